"""Generate text from a trained run (a run folder or its checkpoint.pt) and a prompt.

  scratchformer generate --run runs/NAME --prompt "ROMEO:" --sample.max_new_tokens 300 --sample.top_k 40

Tokens are printed as they are sampled. Past the model's context the window slides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scratchformer.models.generate import SamplingConfig

HELP = "generate text from a run folder or checkpoint and a prompt"


@dataclass
class GenerateConfig:
    run: str | None = None
    """A run folder (runs/NAME) or a checkpoint file."""
    prompt: str = "\n"
    """Text to continue."""
    device: str = "cpu"
    """Device to generate on."""
    # pretrained weights instead of a run (scratchformer/cli/pretrained_hook.py)
    init: str | None = None
    """Instead of a run: a pretrained model (gpt2, gpt2-medium, gpt2-large, gpt2-xl, smollm2, smollm2-hub)
    or a .gguf file / Hugging Face model folder."""
    dtype: str = "auto"
    """With --init: float32, bfloat16, int8 (weight-only, fastest on CPU), or auto (bfloat16 where the hardware has it)."""
    chat: bool = False
    """With --init: wrap the prompt in the instruct model's chat template."""
    sample: SamplingConfig = field(default_factory=SamplingConfig)


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="config", help="a YAML file with these options")
    parser.add_class_arguments(GenerateConfig, None, as_group=False)


def run(args) -> None:
    import torch

    from scratchformer.errors import UserError
    from scratchformer.models.generate import generate_stream
    from scratchformer.tasks.runs import load_language_model
    from scratchformer.devices import resolve_device

    resolve_device(args.device)  # a missing GPU is one line, before any model is read
    if args.init is not None:  # pretrained weights instead of a run
        from scratchformer.cli.pretrained_hook import generate_pretrained

        return generate_pretrained(args)
    if args.run is None:
        raise UserError("say which model to use: --run runs/NAME (a run folder or checkpoint) or --init gpt2|smollm2")
    run = load_language_model(args.run, args.device, command="generate")
    model, tokenizer = run.model, run.tokenizer
    ids = tokenizer.encode(args.prompt)
    if not ids:
        raise UserError("the prompt is empty after tokenisation; give at least one character")
    prompt = torch.tensor([ids], device=args.device)
    print(args.prompt, end="", flush=True)
    # - decode_stream holds back a character split over several BPE/byte tokens
    from scratchformer.cli.pretrained_hook import decode_stream

    for piece in decode_stream(tokenizer, (t.item() for t in generate_stream(model, prompt, args.sample))):
        print(piece, end="", flush=True)
    print()
