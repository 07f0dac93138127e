"""Evaluate a classifier run out of distribution: accuracy, gap, ECE and AUROC on every set, one table.

  scratchformer evaluate-ood --run runs/imdb-best --data.source ../shared/data/aclImdb.tar.gz \\
      --ood.source ../shared/data/sentiment_ood --ood.bbc_source ../shared/data/bbc_news.tar.gz

IMDb test is the in-distribution reference (read here for this evaluation only: never choose
settings by it). The sets: VADER's Amazon, NYT, tweets and movie snippets (binarised by the sign
of the mean valence; |valence| < --ood.threshold left out), Pang & Lee's sentences and reviews
(deduplicated against the movie snippets), and BBC News (unlabelled: AUROC only). The columns:
accuracy; gap = IMDb test accuracy minus the set's, in points; ECE (15 bins); AUROC of telling the
set from IMDb test by the maximum softmax probability. With --lm RUN (a language-model run, such
as the one the classifier was fine-tuned from), a last column: AUROC by that model's likelihood of
each text (tasks/ood_evaluation.py).
"""

from __future__ import annotations

import random

from scratchformer.data.imdb import IMDbConfig
from scratchformer.data.sentiment_ood import OODConfig

HELP = "evaluate a classifier run on every out-of-distribution set: accuracy, gap, ECE, AUROC"


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=str, required=True, help="a classifier run folder (runs/NAME) or its checkpoint.pt")
    parser.add_argument("--data", type=IMDbConfig, default=IMDbConfig(),
                        help="where IMDb comes from (its test split is the in-distribution reference)")
    parser.add_argument("--ood", type=OODConfig, default=OODConfig(), help="where the out-of-distribution sets come from")
    parser.add_argument("--test_reviews", type=int, default=0,
                        help="score a fixed random sample of this many IMDb test reviews (0: all 25,000)")
    parser.add_argument("--lm", type=str, default=None,
                        help="a language-model run (folder or checkpoint.pt): adds AUROC by its likelihood of each text")
    parser.add_argument("--lm_tokens", type=int, default=256,
                        help="with --lm: score each text's first this many next-token predictions")
    parser.add_argument("--batch_size", type=int, default=128, help="reviews per forward pass")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0: its default)")


def run(args) -> None:
    import torch

    from scratchformer.data.imdb import load_imdb
    from scratchformer.data.sentiment_ood import load_ood
    from scratchformer.errors import UserError
    from scratchformer.tasks.classification import load_classifier
    from scratchformer.tasks.ood_evaluation import evaluate_ood, format_table
    from scratchformer.tasks.runs import load_language_model

    if args.test_reviews < 0 or args.batch_size < 1 or args.lm_tokens < 1:
        raise UserError("--test_reviews must be >= 0, and --batch_size and --lm_tokens >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer, batching = load_classifier(args.run, command="evaluate-ood")
    lm = load_language_model(args.lm, command="evaluate-ood --lm") if args.lm else None
    test = load_imdb(args.data, final_test=True)["test"]
    if 0 < args.test_reviews < len(test):
        test = test.subset(sorted(random.Random(0).sample(range(len(test)), args.test_reviews)))
    ood = load_ood(args.ood)
    for note in ood.notes:
        print(f"note: {note}")
    rows = evaluate_ood(model, tokenizer, batching, test, ood.sets, args.batch_size, lm=lm, lm_tokens=args.lm_tokens)
    print(format_table(rows))
