"""The benchmark suite: ``python -m benchmarks {machine,step,growl,eval,front,pack,precision,all}``.

Each subcommand prints the machine and a table; ``all`` runs every one at its defaults
(about 10 minutes on 2 loaded cores). ``--device cuda`` times on a GPU.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    top.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("machine", help="CPU, bf16 units, fp32 and bf16 matmul GFLOP/s")
    step = sub.add_parser("step", help="paretoctl's epoch against the plain baseline")
    step.add_argument("--n", type=int, default=1024, help="training samples")
    step.add_argument("--epochs", type=int, default=1)
    step.add_argument("--batch-size", type=int, default=256)
    step.add_argument("--repeats", type=int, default=3)
    step.add_argument("--methods", default="", help="comma-separated subset, e.g. linear,mgda")
    growl = sub.add_parser("growl", help="GrOWL value, prox and Affinity Propagation on MDMTN")
    growl.add_argument("--repeats", type=int, default=5)
    growl.add_argument("--arch", default="mdmtn")
    evaluation = sub.add_parser("eval", help="data loading, evaluation, COSMOS/PHN over 25 rays")
    evaluation.add_argument("--n-test", type=int, default=20000)
    evaluation.add_argument("--data-dir", type=Path, default=None)
    front = sub.add_parser("front", help="front and hypervolume over 1e5 and 1e6 points")
    front.add_argument("--sizes", default="100000,1000000")
    front.add_argument("--store-points", default="100000,1000000",
                       help="comma list of stored points for `paretoctl front` end to end (0: skip)")
    front.add_argument("--dims", default="2,3", help="objectives of the stored points")
    front.add_argument("--keep", type=Path, default=None, help="folder for the stores, reused")
    pack = sub.add_parser("pack", help="trials/hour: K trials one at a time against one pack")
    pack.add_argument("--k", type=int, default=8, help="trials per pack")
    pack.add_argument("--repeats", type=int, default=3)
    pack.add_argument("--dataset", default="multidigits", choices=("multidigits", "multifashion"))
    pack.add_argument("--n-train", type=int, default=2048)
    pack.add_argument("--n-test", type=int, default=512, help="validation and test samples")
    pack.add_argument("--epochs", type=int, default=1)
    pack.add_argument("--batch-size", type=int, default=256)
    pack.add_argument("--precision", default="auto", choices=("auto", "fp32"),
                      help="the trials' train.precision (a pack trains in fp32)")
    accuracy = sub.add_parser("precision", help="bf16 against fp32 test accuracy on Multi-Fashion")
    accuracy.add_argument("--n-train", type=int, default=120000)
    accuracy.add_argument("--epochs", type=int, default=3)
    accuracy.add_argument("--seeds", default="0,1")
    accuracy.add_argument("--data-dir", type=Path, default=None)
    everything = sub.add_parser("all", help="every benchmark at its defaults")
    everything.add_argument("--n-test", type=int, default=5000)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device: CUDA is not available on this machine", file=sys.stderr)
        return 2
    from benchmarks import (eval_speed, front_speed, growl_speed, machine, pack,
                            precision_accuracy, step)

    commands = [args.command] if args.command != "all" else ["machine", "step", "growl",
                                                              "eval", "pack", "front"]
    for command in commands:
        print(f"== {command}")
        if command == "machine":
            machine.run(device)
        elif command == "step":
            if args.command == "step":
                only = [m for m in args.methods.split(",") if m]
                step.run(device, args.n, args.epochs, args.batch_size, args.repeats, only)
            else:
                step.run(device, 1024, 1, 256, 3)
        elif command == "growl":
            growl_speed.run(device, getattr(args, "repeats", 5), getattr(args, "arch", "mdmtn"))
        elif command == "eval":
            eval_speed.run(device, args.n_test, getattr(args, "data_dir", None))
        elif command == "pack":
            if args.command == "pack":
                pack.run(device, args.k, args.repeats, args.dataset, args.n_train, args.n_test,
                         args.epochs, args.batch_size, precision=args.precision)
            else:
                pack.run(device)
        elif command == "precision":
            seeds = tuple(int(s) for s in args.seeds.split(",") if s)
            precision_accuracy.run(args.n_train, args.epochs, seeds, args.data_dir)
        elif command == "front":
            if args.command == "front":
                front_speed.in_memory([int(v) for v in args.sizes.split(",")])
                stored = [int(v) for v in args.store_points.split(",") if int(v)]
                if stored:
                    front_speed.end_to_end(stored, dims=tuple(int(v) for v in args.dims.split(",")),
                                           keep=args.keep)
            else:
                front_speed.in_memory([100000, 1000000])
                front_speed.end_to_end(100000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
