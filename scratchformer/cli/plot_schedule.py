"""Draw learning-rate schedules: learning rate against step, one line per schedule.

  scratchformer plot-schedule --schedule all --max_steps 2000 --warmup_steps 100 --out schedules.png
  scratchformer plot-schedule --schedule wsd,one_cycle
"""

from __future__ import annotations

HELP = "draw learning-rate schedules (constant, warmup, cosine, linear, wsd, one_cycle) into a PNG"


def add_arguments(parser) -> None:
    parser.add_argument("--schedule", type=str, default="all", help="'all' or comma-separated schedule names")
    parser.add_argument("--max_steps", type=int, default=2000, help="steps of the run")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--min_lr", type=float, default=1e-4, help="learning rate at the end of the decay")
    parser.add_argument("--warmup_steps", type=int, default=100, help="steps of linear warmup")
    parser.add_argument("--out", type=str, default="schedules.png", help="where to write the PNG")


def run(args) -> None:
    from scratchformer.errors import UserError
    from scratchformer.training.plots import plot_schedules
    from scratchformer.training.schedules import SCHEDULES

    names = list(SCHEDULES) if args.schedule == "all" else [s.strip() for s in args.schedule.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCHEDULES]
    if unknown or not names:
        raise UserError(f"unknown schedule {unknown[0] if unknown else args.schedule!r}; choose 'all' or any of "
                        f"{', '.join(SCHEDULES)}, comma-separated")
    if args.max_steps < 1 or args.warmup_steps < 0 or args.lr <= 0 or args.min_lr < 0:
        raise UserError("need max_steps >= 1, warmup_steps >= 0, lr > 0 and min_lr >= 0")
    path = plot_schedules(names, args.out, max_steps=args.max_steps, lr=args.lr, min_lr=args.min_lr,
                          warmup_steps=args.warmup_steps)
    print(f"wrote {path}")
