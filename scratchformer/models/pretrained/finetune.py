"""Fine-tuning a pretrained model: `scratchformer train --init gpt2|smollm2|PATH`.

The run is an ordinary training run (the project's Trainer, run folder, checkpoints, resume);
only its starting point differs:

  --init NAME ─► from_pretrained ─► model (float32) + its tokenizer
  corpus text ─► that tokenizer ─► LMData windows of --model.context_len tokens ─► Trainer

The architecture comes from the weights, so of the --model options only context_len applies:
the training window, and the (shortened) context of the saved model. The checkpoint stores the
model's config and the tokenizer, so `scratchformer generate --run runs/NAME` reloads it.
"""

from __future__ import annotations

from scratchformer.data.corpus import load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.errors import UserError
from scratchformer.models.pretrained import from_pretrained


def prepare_finetune(init: str, data_cfg, context_len: int):
    """(tokenizer, LMData, model) for continuing to train `init` on the corpus `data_cfg` describes."""
    # - train on windows no longer than the model has positions for
    model, tokenizer = from_pretrained(init, dtype="float32", context_len=context_len)
    if tokenizer is None:
        raise UserError(f"{init} comes without a tokenizer (no tokenizer.json); add the model's tokenizer.json "
                        "to its folder")
    context_len = model.config.context_len
    try:
        data = LMData.from_text(load_splits(data_cfg), tokenizer, context_len)
    except ValueError as e:
        raise UserError(f"the corpus is too short to train on: {e}") from None
    return tokenizer, data, model.train()
