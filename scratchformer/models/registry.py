"""Model kinds by name, so a checkpoint can rebuild the model it was saved from.

MODELS maps a kind (the "kind" field of every checkpoint) to "module:ModelClass:ConfigClass";
modules are imported on demand. DESCRIPTIONS says in words what each kind is, for messages.
"""

from __future__ import annotations

import importlib

MODELS: dict[str, str] = {
    "gpt": "scratchformer.models.gpt:GPT:GPTConfig",
    "perceiver_ar": "scratchformer.models.perceiver:PerceiverAR:PerceiverARConfig",
    "classifier": "scratchformer.models.classifier:Classifier:ClassifierConfig",
    "encoder_decoder": "scratchformer.models.encoder_decoder:EncoderDecoder:EncoderDecoderConfig",
}

DESCRIPTIONS: dict[str, str] = {
    "gpt": "a language model (GPT)",
    "perceiver_ar": "a language model (Perceiver AR)",
    "classifier": "a classifier",
    "encoder_decoder": "a sequence-to-sequence model (encoder-decoder)",
}

LANGUAGE_MODELS = ("gpt", "perceiver_ar")  # kinds that read and write text token by token


def model_classes(kind: str):
    """(ModelClass, ConfigClass) for a kind."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {sorted(MODELS)}")
    module_name, model_name, config_name = MODELS[kind].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, model_name), getattr(module, config_name)


def build_model(kind: str, config: dict):
    """A fresh model of `kind` from a plain config dict (as stored in checkpoints)."""
    model_cls, config_cls = model_classes(kind)
    return model_cls(config_cls(**config))
