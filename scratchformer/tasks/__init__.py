"""Task wiring, one file per kind of run: data + model + trainer from a config, and its run folder.

  language_model.py   a GPT on a text corpus (train, eval, generate)
  classification.py   a sentiment classifier on IMDb (train, evaluate, classify)
  seq2seq.py          an encoder-decoder on the synthetic exact-answer tasks

The training engine these build on (trainer, optimisers, schedules, checkpoints, ...) lives in
scratchformer/training and knows nothing of any task.
"""
