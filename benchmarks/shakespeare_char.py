"""Tiny Shakespeare at character level: nanoGPT's CPU recipe on nanoGPT's own code and on ours,
side by side in one invocation, our best preset beside them; and generation speed with and
without the KV cache.

    python -m benchmarks.shakespeare_char --nanogpt DIR     # side by side (about 10 minutes on 2 quiet cores)
    python -m benchmarks.shakespeare_char                   # ours only; nanoGPT's figures quoted, no ratios
    python -m benchmarks.shakespeare_char --quick --nanogpt DIR --results /tmp/out   # 20 steps: a smoke run
    python -m benchmarks.shakespeare_char --generate        # KV-cache generation speed

DIR is a clone of karpathy/nanoGPT; it is copied, never written to. The runs alternate in the
order nanoGPT, recipe, best, nanoGPT (repeated --rounds times), each in its own process with
the same Python, the same torch and the same number of threads, so that load from other jobs
falls on both sides and each peak memory is its own process's. The ratios are ours over the
mean of nanoGPT's runs in this invocation; nothing is divided by a figure from elsewhere.
With --concurrent, the four runs of a round start at the same moment instead: on a machine
loaded by other jobs, every run then shares the same load (and they compete with each other).

Data as nanoGPT: ../shared/data/tinyshakespeare.txt (or --data), first 90% train, last 10%
validation, the 65-character vocabulary of the whole text. Wall-clock is the training loop's,
validation included, on both sides. The load averages before and after each run are recorded:
above the core count, other jobs were competing.

Final loss, two ways. Each side's own validation loss is an estimate from 20 random batches of 12
windows (a standard error of about 0.015 nats: nanoGPT's 1.886 and our 1.903 are two such draws).
Both final models are also scored on the whole validation split, every prediction once, by the
same evaluator (nanoGPT's checkpoint read into our GPT): that difference is the models', not the
batches'. docs/nanogpt_recipe.md tells how the two recipes were brought to the same training.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean

from benchmarks import _nanogpt as nanogpt_anchor
from benchmarks.common import load_average, median, peak_rss_mb, report, require_clean, shared_file
from scratchformer.provenance import machine

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = {"recipe": CONFIGS / "shakespeare_char_nanogpt.yaml", "best": CONFIGS / "shakespeare_char_best.yaml"}
# what the README used to divide by; shown only as a quotation when nanoGPT is not run here
QUOTED = {
    "tokens_per_s": "14,000-16,200", "wall_s": "104-119", "final_val_loss": 1.886, "peak_rss_mb": 370,
    "where": "nanoGPT's train.py with its CPU recipe, two runs on a 2-core AMD EPYC shared with other jobs, "
             "measured when these benchmarks were checked as a new user would (December 2026); not this run",
}


# ----------------------------------------------------------------------------------------------
# one of our runs (in a child process)

def load_preset(path: Path, quick: bool):
    import yaml
    from scratchformer.models.gpt import GPTConfig
    from scratchformer.training.trainer import TrainConfig
    raw = yaml.safe_load(path.read_text())
    train = {**raw["train"], "progress": False, "log_interval": 10}
    if quick:  # the same recipe for 20 steps, validating at 10 and 20 on 2 batches
        train.update(max_steps=20, warmup_steps=2, eval_interval=10, eval_batches=2)
    return GPTConfig(**raw["model"]), TrainConfig(**train)


def shakespeare(text_path: Path, context_len: int):
    import torch
    from scratchformer.data.lm_data import LMData
    from scratchformer.data.tokenizers import CharTokenizer
    text = text_path.read_text(encoding="utf-8")
    tokenizer = CharTokenizer.train(text)  # 65 characters, from the whole text as nanoGPT does
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.uint8)  # 65 ids fit in a byte
    n = int(0.9 * len(ids))
    return tokenizer, LMData({"train": ids[:n], "val": ids[n:]}, context_len)


def whole_split_loss(model, data) -> float:
    """The final model's loss over every prediction of the validation split (the same for both sides)."""
    from scratchformer.training.evaluation import evaluate_whole_split
    return evaluate_whole_split(model, data, "val")["val_loss"]


def train_one(name: str, text_path: Path, quick: bool) -> dict:
    """Train one preset in this process; returns its curve, throughput and memory."""
    import torch
    from scratchformer.models.gpt import GPT
    from scratchformer.training.checkpoint import unwrap
    from scratchformer.training.trainer import Trainer
    model_cfg, train_cfg = load_preset(PRESETS[name], quick)
    tokenizer, data = shakespeare(text_path, model_cfg.context_len)
    model_cfg.vocab_size = tokenizer.vocab_size
    torch.manual_seed(train_cfg.seed)
    trainer = Trainer(GPT(model_cfg), train_cfg, data)
    start = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - start
    evals = [r for r in trainer.history if "val_loss" in r]
    speeds = [r["tokens_per_s"] for r in trainer.history if "tokens_per_s" in r]
    return {
        "preset": PRESETS[name].name,
        "params": trainer.model.num_params(),
        "context_len": model_cfg.context_len,
        "steps": trainer.step,
        "tokens_per_s": median(speeds),
        "train_wall_s": wall,
        "final_val_loss": evals[-1]["val_loss"],
        "final_val_loss_whole_split": whole_split_loss(unwrap(trainer.model), data),
        "val_curve": [[r["step"], round(r["elapsed_s"], 1), round(r["val_loss"], 4)] for r in evals],
    }


# ----------------------------------------------------------------------------------------------
# the side-by-side schedule (in the parent process)

def run_process(cmd: list[str], cwd: Path | None, threads: int) -> dict:
    """Run `cmd` with `threads` intra-op threads; its stdout, wall-clock, peak memory and the load around it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    load_before = load_average()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        # - reap the child with wait4, which gives this child's own peak resident memory
        #   (RUSAGE_CHILDREN would give the largest over all children so far)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{stderr[-2000:]}")
    return {"stdout": stdout, "process_wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
            "load_before": load_before, "load_after": load_average()}


def run_ours(name: str, text_path: Path, quick: bool, threads: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.shakespeare_char", "--child", name, "--data", str(text_path)]
    done = run_process(cmd + (["--quick"] if quick else []), Path(__file__).resolve().parents[1], threads)
    result = json.loads(done.pop("stdout").strip().splitlines()[-1])
    return {**result, **done}


def run_nanogpt(checkout: Path, text_path: Path, quick: bool, threads: int) -> dict:
    done = run_process(nanogpt_anchor.command(sys.executable, quick), checkout, threads)
    result = {**nanogpt_anchor.parse(done.pop("stdout")), **done}
    # - its final model, scored as ours is (after the run: not part of its timings)
    import torch
    torch.set_num_threads(threads)
    model, iteration = nanogpt_anchor.load_checkpoint(checkout / nanogpt_anchor.CHECKPOINT)
    if iteration != result["val_curve"][-1][0]:
        sys.exit(f"error: nanoGPT's checkpoint is from iteration {iteration}, not its last validation "
                 f"({result['val_curve'][-1][0]}); was --always_save_checkpoint=True passed?")
    _, data = shakespeare(text_path, model.config.context_len)
    return {**result, "final_val_loss_whole_split": whole_split_loss(model, data)}


def first_time_below(curve: list, target: float) -> float | None:
    """Seconds of training until the first validation at or below `target` (None: never)."""
    return next((seconds for _, seconds, loss in curve if loss <= target), None)


def compare(nanogpt: list[dict], recipe: list[dict], best: list[dict]) -> dict:
    """Ratios of ours to nanoGPT's mean in this invocation, with the range over nanoGPT's runs."""
    def ratio(ours: float, key: str) -> dict:
        anchors = [run[key] for run in nanogpt]
        return {"vs_mean": ours / mean(anchors), "min": min(ours / a for a in anchors),
                "max": max(ours / a for a in anchors)}

    target = mean(run["final_val_loss"] for run in nanogpt)  # nanoGPT's final loss, here
    recipe_speed = mean(run["tokens_per_s"] for run in recipe)
    out = {
        "nanogpt_final_val_loss": target,
        "recipe_tokens_per_s": ratio(recipe_speed, "tokens_per_s"),
        "recipe_train_wall": ratio(mean(run["train_wall_s"] for run in recipe), "train_wall_s"),
        "recipe_final_val_loss_minus_nanogpt": mean(run["final_val_loss"] for run in recipe) - target,
        "recipe_peak_rss": ratio(mean(run["peak_rss_mb"] for run in recipe), "peak_rss_mb"),
    }
    # - the same difference on the whole validation split: the models', without the batches' noise
    if all("final_val_loss_whole_split" in run for run in nanogpt + recipe):
        out["recipe_whole_split_val_loss_minus_nanogpt"] = (
            mean(run["final_val_loss_whole_split"] for run in recipe)
            - mean(run["final_val_loss_whole_split"] for run in nanogpt))
    out["recipe_seconds_to_nanogpt_final"] = [first_time_below(run["val_curve"], target) for run in recipe]
    reached = [first_time_below(run["val_curve"], target) for run in best]
    out["best_seconds_to_nanogpt_final"] = reached
    out["best_time_to_nanogpt_final_vs_nanogpt_wall"] = (
        None if None in reached else ratio(mean(reached), "train_wall_s"))
    return out


def side_by_side(args) -> dict:
    """nanoGPT's runs and ours, one after another (interleaved) or a round's four at once (--concurrent)."""
    threads = args.threads
    runs: dict[str, list[dict]] = {"nanogpt": [], "recipe": [], "best": []}
    with tempfile.TemporaryDirectory(prefix="nanogpt-") as tmp:
        checkout = nanogpt_anchor.prepare_checkout(args.nanogpt, args.data, Path(tmp) / "a")
        # - a second copy, so that two nanoGPT runs at the same moment write their checkpoints apart
        second = nanogpt_anchor.prepare_checkout(args.nanogpt, args.data, Path(tmp) / "b") if args.concurrent else None

        def run(name: str, index: int = 0) -> dict:
            if name == "nanogpt":
                return run_nanogpt(second if second and index % 2 else checkout, args.data, args.quick, threads)
            return run_ours(name, args.data, args.quick, threads)

        order = ["nanogpt", "recipe", "best", "nanogpt"] * args.rounds
        if args.concurrent:
            # - the four runs of a round start at the same moment: every run sees the same load
            for i in range(0, len(order), 4):
                print(f"[round {i // 4 + 1}/{args.rounds}] nanogpt, recipe, best, nanogpt together "
                      f"(load {load_average()[0]})", file=sys.stderr, flush=True)
                with ThreadPoolExecutor(4) as pool:
                    for name, done in zip(order[i:i + 4], pool.map(run, order[i:i + 4], range(4))):
                        runs[name].append(done)
        else:
            for i, name in enumerate(order):
                print(f"[{i + 1}/{len(order)}] {name} (load {load_average()[0]})", file=sys.stderr, flush=True)
                runs[name].append(run(name))
    return {"order": order, "schedule": "concurrent" if args.concurrent else "interleaved",
            "nanogpt_command": " ".join(nanogpt_anchor.command("python", args.quick)[1:]),
            "nanogpt_checkout": nanogpt_commit(args.nanogpt), **runs,
            "ratios": compare(runs["nanogpt"], runs["recipe"], runs["best"])}


def nanogpt_commit(folder: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return out.stdout.strip() or "unknown (not a git checkout)"


def ours_alone(args) -> dict:
    """Without a nanoGPT checkout: our two presets, and nanoGPT's figures as a labelled quotation."""
    runs = {name: [run_ours(name, args.data, args.quick, args.threads)] for name in PRESETS}
    return {"order": list(PRESETS), **runs, "nanogpt_quoted": QUOTED}


# ----------------------------------------------------------------------------------------------
# generation with and without the KV cache

GENERATION_MODELS = {
    # the recipe's model: 0.8M parameters, where a cached step costs little more than dispatch overhead
    "recipe_4x128": dict(d_model=128, n_heads=4, n_layers=4),
    # nanoGPT's standard Shakespeare model (its GPU config): 10.7M parameters
    "nanogpt_6x384": dict(d_model=384, n_heads=6, n_layers=6),
}


def generation_speed(shape: dict, threads: int, repeats: int = 5, context_len: int = 256) -> dict:
    """Tokens/s generating up to a full context of 256 (1-token prompt, 255 new), batch 1, on
    `threads` CPU threads, with and without the KV cache. The two alternate within each repeat, so
    a burst of load on the shared machine hits both; the speedup is the median of the repeats' ratios."""
    import torch
    from scratchformer.models.generate import SamplingConfig, generate
    from scratchformer.models.gpt import GPT, GPTConfig
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, context_len=context_len, bias=False, **shape)).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    new = context_len - 1
    times: dict[bool, list[float]] = {True: [], False: []}
    for use_cache in (True, False):  # warm up both paths
        generate(model, prompt, SamplingConfig(max_new_tokens=8, seed=0, use_cache=use_cache))
    for _ in range(repeats):
        for use_cache in (True, False):
            cfg = SamplingConfig(max_new_tokens=new, temperature=1.0, seed=0, use_cache=use_cache)
            start = time.perf_counter()
            generate(model, prompt, cfg)
            times[use_cache].append(time.perf_counter() - start)
    ratios = [without / with_ for with_, without in zip(times[True], times[False])]
    return {"params": model.num_params(), "context_len": context_len, "threads": threads, "repeats": repeats,
            "tokens_per_s_with_cache": new / median(times[True]),
            "tokens_per_s_without_cache": new / median(times[False]),
            "speedup": median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios)}


# ----------------------------------------------------------------------------------------------
# the README's tables (python -m benchmarks.report)

def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _ratio(r: dict) -> str:
    return f"{r['vs_mean']:.2f}×" if abs(r["max"] - r["min"]) < 0.005 else \
        f"{r['vs_mean']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def _spread(values: list[float], digits: int = 0, unit: str = "") -> str:
    """The mean, and each run's value when there are several."""
    text = _n(mean(values), digits) + unit
    return text if len(values) == 1 else f"{text} ({', '.join(_n(v, digits) for v in values)})"


def render(results: dict) -> str:
    """The Tiny Shakespeare table: nanoGPT measured beside ours, or quoted when it was not run."""
    recipe, best, nanogpt = results["recipe"], results["best"], results.get("nanogpt")
    m = results["machine"]
    label = {"nanogpt": "nanoGPT", "recipe": "our recipe", "best": "our best preset"}
    runs = ", ".join(label[name] for name in results["order"])
    loads = "; ".join(f"{label[name]} {run['load_before'][0]}→{run['load_after'][0]}"
                      for name, run in zip(results["order"], _in_order(results)))
    n = m.get("threads", m.get("torch_threads"))  # files written before provenance.machine() say torch_threads
    threads = f"{n} thread{'s' if n != 1 else ''}"
    runs = ("all started at the same moment: " if results.get("schedule") == "concurrent" else
            "in the order ") + runs
    head = (f"One invocation on {m['cpu']} ({m['cores']} cores, {threads} on every run, "
            f"torch {m['torch']}), runs {runs}, one seed each. "
            f"1-minute load average before→after each run: {loads}.")
    col_r = "scratchformer, same recipe ([`configs/shakespeare_char_nanogpt.yaml`](configs/shakespeare_char_nanogpt.yaml))"
    col_b = "scratchformer, best preset ([`configs/shakespeare_char_best.yaml`](configs/shakespeare_char_best.yaml))"
    rows = []
    if nanogpt:
        c = results["ratios"]
        target = c["nanogpt_final_val_loss"]
        reached = c["best_seconds_to_nanogpt_final"]
        to_target = ("not reached" if None in reached else
                     f"**{_spread(reached, 0, ' s')}** ({_ratio(c['best_time_to_nanogpt_final_vs_nanogpt_wall'])} "
                     f"of nanoGPT's wall-clock)")
        recipe_reached = [first_time_below(run["val_curve"], target) for run in recipe]
        recipe_to_target = "not reached" if None in recipe_reached else _spread(recipe_reached, 0, " s")
        rows = [
            ("training tokens/s (median of 10-step windows)", _spread([r["tokens_per_s"] for r in nanogpt]),
             f"{_spread([r['tokens_per_s'] for r in recipe])} (**{_ratio(c['recipe_tokens_per_s'])}**)",
             f"{_spread([r['tokens_per_s'] for r in best])} (context {best[0]['context_len']})"),
            ("training wall-clock, validation included", _spread([r["train_wall_s"] for r in nanogpt], 0, " s"),
             f"{_spread([r['train_wall_s'] for r in recipe], 0, ' s')} ({_ratio(c['recipe_train_wall'])})",
             _spread([r["train_wall_s"] for r in best], 0, " s")),
            ("final validation loss", _spread([r["final_val_loss"] for r in nanogpt], 3),
             f"{_spread([r['final_val_loss'] for r in recipe], 3)} "
             f"({c['recipe_final_val_loss_minus_nanogpt']:+.3f})",
             f"**{_spread([r['final_val_loss'] for r in best], 3)}**"),
        ]
        if "recipe_whole_split_val_loss_minus_nanogpt" in c:
            whole = [[r["final_val_loss_whole_split"] for r in runs] for runs in (nanogpt, recipe, best)]
            rows.append(("final validation loss, whole validation split (every prediction once, one evaluator)",
                         _spread(whole[0], 3),
                         f"{_spread(whole[1], 3)} ({c['recipe_whole_split_val_loss_minus_nanogpt']:+.3f})",
                         _spread(whole[2], 3)))
        rows += [
            (f"time to nanoGPT's final loss ({target:.3f})", "–", recipe_to_target, to_target),
            ("peak resident memory of the process", _spread([r["peak_rss_mb"] for r in nanogpt], 0, " MB"),
             f"{_spread([r['peak_rss_mb'] for r in recipe], 0, ' MB')} ({_ratio(c['recipe_peak_rss'])})",
             _spread([r["peak_rss_mb"] for r in best], 0, " MB")),
        ]
        col_n = "nanoGPT's `train.py`, measured here"
    else:
        q = results["nanogpt_quoted"]
        rows = [
            ("training tokens/s", q["tokens_per_s"] + " (quoted)", _spread([r["tokens_per_s"] for r in recipe]),
             _spread([r["tokens_per_s"] for r in best])),
            ("training wall-clock, validation included", q["wall_s"] + " s (quoted)",
             _spread([r["train_wall_s"] for r in recipe], 0, " s"), _spread([r["train_wall_s"] for r in best], 0, " s")),
            ("final validation loss", f"{q['final_val_loss']} (quoted)",
             _spread([r["final_val_loss"] for r in recipe], 3), _spread([r["final_val_loss"] for r in best], 3)),
            ("peak resident memory of the process", f"{q['peak_rss_mb']} MB (quoted)",
             _spread([r["peak_rss_mb"] for r in recipe], 0, " MB"), _spread([r["peak_rss_mb"] for r in best], 0, " MB")),
        ]
        col_n = "nanoGPT's `train.py`, quoted: " + q["where"]
    lines = [head, "", f"| | {col_n} | {col_r} | {col_b} |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    if nanogpt:
        c = results["ratios"]
        recipe_loss = mean(r["final_val_loss"] for r in recipe)
        lines += ["", f"Same recipe, same data: our final validation loss is {recipe_loss:.3f} against nanoGPT's "
                      f"{c['nanogpt_final_val_loss']:.3f} ({c['recipe_final_val_loss_minus_nanogpt']:+.3f}; one seed "
                      "each, validation estimated on 20 random batches in both)."]
        if "recipe_whole_split_val_loss_minus_nanogpt" in c:
            lines[-1] += (f" Scored on the whole validation split by one evaluator, the difference is "
                          f"{c['recipe_whole_split_val_loss_minus_nanogpt']:+.3f}; the 20-batch estimate alone has a "
                          "standard error of about 0.015 (docs/nanogpt_recipe.md).")
    all_loads = [x for run in _in_order(results) for x in (run["load_before"][0], run["load_after"][0])]
    if max(all_loads) > m["cores"]:
        lines += ["", f"**Loaded machine**: the 1-minute load average ran from {min(all_loads)} to {max(all_loads)} "
                      f"on {m['cores']} cores while these runs ran, so every absolute speed and time here is far "
                      "below a quiet machine's; only the ratios, between runs that saw the same load, carry over."]
    return "\n".join(lines)


def _in_order(results: dict) -> list[dict]:
    """The runs in the order they ran."""
    taken = {name: iter(results.get(name) or []) for name in set(results["order"])}
    return [next(taken[name]) for name in results["order"]]


def render_generate(results: dict) -> str:
    """The KV-cache table."""
    names = {"recipe_4x128": "the recipe's model", "nanogpt_6x384": "nanoGPT's Shakespeare model"}
    lines = ["| model | threads | with KV cache | without | speed-up (min–max of the repeats) |",
             "| --- | --- | --- | --- | --- |"]
    previous = None
    for key, g in results["generation"].items():
        model = key.rsplit("_", 1)[0]
        label = "" if model == previous else f"{names.get(model, model)}, {g['params'] / 1e6:.1f}M parameters"
        previous = model
        lines.append(f"| {label} | {g['threads']} | {_n(g['tokens_per_s_with_cache'])} tokens/s | "
                     f"{_n(g['tokens_per_s_without_cache'])} tokens/s | {g['speedup']:.1f}× "
                     f"({g['speedup_min']:.1f}–{g['speedup_max']:.1f}) |")
    m = results["machine"]
    lines += ["", f"{m['cpu']}, load average {results['load_before'][0]} before and "
                  f"{results['load_after'][0]} after."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, metavar="DIR", help="a clone of karpathy/nanoGPT, run side by side")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the order nanoGPT, recipe, best, nanoGPT")
    parser.add_argument("--concurrent", action="store_true",
                        help="start the four runs of a round at the same moment instead of one after another: "
                             "on a machine loaded by other jobs, every run then sees the same load")
    parser.add_argument("--threads", type=int, default=None, help="threads for every run (default: torch's)")
    parser.add_argument("--data", type=Path, default=None, help="the text (default ../shared/data/tinyshakespeare.txt)")
    parser.add_argument("--quick", action="store_true", help="20 steps a run: check the pipeline, not the figures")
    parser.add_argument("--generate", action="store_true", help="measure KV-cache generation speed instead")
    parser.add_argument("--results", type=Path, default=None, help="folder for the results file (default benchmarks/results)")
    parser.add_argument("--child", choices=list(PRESETS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data = args.data or shared_file("tinyshakespeare.txt")
    if args.child:
        print(json.dumps({**train_one(args.child, args.data, args.quick), "peak_rss_mb_self": peak_rss_mb()}))
        return
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    state = require_clean(args.quick)  # before the run, not after it
    import torch
    args.threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(args.threads)
    if args.nanogpt is not None and not (args.nanogpt / "train.py").exists():
        sys.exit(f"error: {args.nanogpt} has no train.py; pass the folder of a clone of karpathy/nanoGPT")
    result: dict = {"benchmark": "shakespeare_char", "quick": args.quick, "machine": machine(),
                    "load_before": load_average()}
    if args.generate:
        # - one thread and two: the cached step is mostly per-op overhead, which a second thread
        #   barely shortens, while recomputing the window is real work that it does
        result["generation"] = {f"{name}_{threads}thread": generation_speed(shape, threads, 2 if args.quick else 5)
                                for name, shape in GENERATION_MODELS.items() for threads in (1, 2)}
        name = "shakespeare_char_generate"
    else:
        result.update(side_by_side(args) if args.nanogpt else ours_alone(args))
        name = "shakespeare_char"
    result["load_after"] = load_average()
    report(name + ("_quick" if args.quick else ""), result, results_dir=args.results, state=state)


if __name__ == "__main__":
    main()
