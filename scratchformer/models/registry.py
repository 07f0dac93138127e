"""Model kinds by name, so a checkpoint can rebuild the model it was saved from.

MODELS maps a kind to "module:ModelClass:ConfigClass"; modules are imported on demand.
"""

from __future__ import annotations

import importlib

MODELS: dict[str, str] = {
    "gpt": "scratchformer.models.gpt:GPT:GPTConfig",
    "perceiver_ar": "scratchformer.models.perceiver:PerceiverAR:PerceiverARConfig",
    "classifier": "scratchformer.models.classifier:Classifier:ClassifierConfig",
    "lstm_classifier": "scratchformer.models.lstm:LSTMClassifier:LSTMClassifierConfig",
    "lstm_lm": "scratchformer.models.lstm:LSTMLM:LSTMLMConfig",
}


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
