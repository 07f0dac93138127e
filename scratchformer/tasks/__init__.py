"""Task wiring, one file per kind of run: data + model + trainer from a config, and its run folder.

  language_model.py         a GPT on a text corpus (train, eval, generate)
  classification.py         a text classifier on IMDb or your own labelled texts (train, evaluate, classify)
  seq2seq.py                an encoder-decoder on the synthetic exact-answer tasks
  distillation.py           a transformer teacher distilled into an LSTM student
  length_generalisation.py  a GPT or an LSTM on a synthetic task, tested on longer inputs
  runs.py                   the one loader of any run's checkpoint (through the model registry)

The training engine these build on (trainer, optimisers, schedules, checkpoints, ...) lives in
scratchformer/training and knows nothing of any task.
"""
