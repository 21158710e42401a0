"""Command line: ``python -m hypernet.train`` (or ``accelerate launch -m hypernet.train``).

\b
Examples:
  python -m hypernet.train --preset tiny-needle --out runs/tiny-needle
  python -m hypernet.train --preset smollm2-135m --base-model assets/smollm2-135m/base --out runs/smollm2
  python -m hypernet.train --base-model path/to/hf_model --objective distill \\
      --train-file train.jsonl --eval-file eval.jsonl --out-dir runs/my-hypernet --steps 20000
  python -m hypernet.train --config runs/my-hypernet/training_config.json   # resume / rerun
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields

from .config import TrainConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hypernet.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", help="run a whole recipe (corpus, tokenizer, base model, GGUF, hypernet)")
    p.add_argument("--out", help="output folder of --preset")
    p.add_argument("--config", help="a TrainConfig JSON file (flags override its values)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = None if f.default is MISSING else f.default
        if f.type in ("bool", bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=None,
                           help=f"(default {default})")
        elif str(f.type).startswith("list"):
            p.add_argument(flag, type=json.loads, default=None, help="JSON list")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=None, help=f"(default {default})")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.preset:
        from .presets import run_preset

        if not args.out:
            print("--preset needs --out DIR (where the pair is written)", file=sys.stderr)
            return 2
        try:
            run_preset(args.preset, args.out, base_model=args.base_model)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    values = json.loads(open(args.config).read()) if args.config else {}
    for f in fields(TrainConfig):
        v = getattr(args, f.name)
        if v is not None:
            values[f.name] = v
    missing = [n for n in ("base_model", "out_dir", "train_file") if not values.get(n)]
    if missing:
        print("missing " + ", ".join("--" + m.replace("_", "-") for m in missing)
              + " (or use --preset NAME --out DIR)", file=sys.stderr)
        return 2
    from .loop import train

    try:
        train(TrainConfig.from_dict(values))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
