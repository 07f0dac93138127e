"""Export a run's weights: safetensors without optimizer state, or a Hugging Face folder.

  scratchformer export --run runs/NAME --out exported/NAME
  scratchformer export --run runs/NAME --out exported/NAME-hf --format hf

--format safetensors (any run) writes model.safetensors and scratchformer.json (kind, model
config, tokenizer). --format hf (a GPT run) writes a GPT-2, Llama or Arcee folder that
`transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads with the same logits, plus
tokenizer.json when the run used a byte-level BPE (--tokenizer bpe, or a pretrained model).
"""

from __future__ import annotations

from scratchformer.errors import UserError

HELP = "write a run's weights as safetensors (no optimizer state) or as a Hugging Face GPT-2/Llama/Arcee folder"


def add_arguments(parser) -> None:
    from scratchformer.models.export import FORMATS

    parser.add_argument("--run", type=str, required=True, help="a run folder (runs/NAME) or its checkpoint.pt")
    parser.add_argument("--out", type=str, required=True, help="the folder to write (created; never overwritten)")
    parser.add_argument("--format", type=str, default="safetensors",
                        help=f"{' or '.join(FORMATS)}: our own layout (any run), or a Hugging Face folder (a GPT run)")


def folder_size(path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def run(args) -> None:
    from scratchformer.models.export import FORMATS, export_hf, export_safetensors
    from scratchformer.tasks.runs import load_run
    from scratchformer.training.checkpoint import resolve_checkpoint

    if args.format not in FORMATS:
        raise UserError(f"unknown export format {args.format!r}; choose one of {', '.join(FORMATS)}")
    run = load_run(args.run)
    model, state, kind = run.model, run.state, run.kind
    if args.format == "hf":
        if kind != "gpt":
            raise UserError(f"{args.run} holds a {kind!r} model; only a GPT language model has a Hugging Face "
                            "layout: use --format safetensors")
        out, layout = export_hf(model, state["model_config"], state.get("tokenizer"), args.out)
        what = f"a Hugging Face {dict(gpt2='GPT-2', llama='Llama', arcee='Arcee')[layout]} folder"
    else:
        out = export_safetensors(model, kind, state["model_config"], state.get("tokenizer"), args.out)
        what = "safetensors weights"
    size, checkpoint = folder_size(out), resolve_checkpoint(args.run).stat().st_size
    print(f"wrote {what} to {out} ({size / 1e6:.1f} MB; the checkpoint with optimizer state is {checkpoint / 1e6:.1f} MB)")
    if args.format == "hf":
        print(f"load it:  transformers.AutoModelForCausalLM.from_pretrained('{out}')")
    else:
        print(f"load it:  scratchformer.api.load('{out}')")
