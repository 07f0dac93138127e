"""Classify the sentiment of a review with a trained classifier run; prints the label and its probability.

  scratchformer classify --run runs/imdb-best --text "A moving, beautifully shot film."
  scratchformer classify --run runs/imdb-best --file review.txt

Any non-empty text works: text longer than the model's context (it is cut as in training), and
non-ASCII text (unknown words become <unk>; byte-level BPE reads every character). Empty or
whitespace-only text is refused: there is nothing to classify.
"""

from __future__ import annotations

from pathlib import Path

from scratchformer.errors import UserError

HELP = "classify the sentiment of a review with a trained classifier"


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=str, required=True, help="a run folder (runs/NAME) or its checkpoint.pt")
    parser.add_argument("--text", type=str, default=None, help="the review text")
    parser.add_argument("--file", type=str, default=None, help="a UTF-8 text file holding the review (instead of --text)")


def read_review(text: str | None, file: str | None) -> str:
    if (text is None) == (file is None):
        raise UserError("give the review either as --text '...' or as --file PATH (exactly one of them)")
    if text is not None:
        review = text
    else:
        path = Path(file)
        if not path.is_file():
            raise UserError(f"review file {path} does not exist; give the path of a text file")
        # - bytes that are not UTF-8 are replaced rather than refused: a review is still a review
        review = path.read_bytes().decode("utf-8", errors="replace")
    if not review.strip():
        where = "--text" if text is not None else f"the file {file}"
        raise UserError(f"{where} holds no text (it is empty or only whitespace); give the review to classify")
    return review


def run(args) -> None:
    from scratchformer.tasks.classification import classify, load_classifier

    review = read_review(args.text, args.file)
    model, tokenizer, batching = load_classifier(args.run)
    label, prob = classify(model, tokenizer, review, batching)
    print(f"{label} {prob:.4f}")
