"""scratchformer: a transformer toolkit written from scratch, for the course "Transformers from scratch".

Layers, each importing only from those above it in this list:
  scratchformer.core         attention, positions, norms, MLP, block, KV cache
  scratchformer.data         tokenizers and corpora
  scratchformer.models       GPT, classifier, encoder-decoder, Perceiver, pretrained loaders
  scratchformer.training     optimiser, schedules, checkpoints, the training loop, finders
  scratchformer.experiments  the course's experiments
  scratchformer.cli          the `scratchformer` command
"""

__version__ = "0.1.0"
