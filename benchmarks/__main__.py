"""The benchmark suite: ``python -m benchmarks {machine,step,growl,eval,front,pack,pack-size,precision,overhead,all}``.

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
    pack.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                      help="the trials' train.precision, packed and one at a time alike")
    sizing = sub.add_parser("pack-size", help="what pack: auto chooses on the device (CUDA)")
    sizing.add_argument("--k", type=int, default=64, help="trials in the pack")
    sizing.add_argument("--n-train", type=int, default=2048)
    sizing.add_argument("--batch-size", type=int, default=256)
    accuracy = sub.add_parser("precision", help="bf16 against fp32 test accuracy on Multi-Fashion")
    accuracy.add_argument("--n-train", type=int, default=120000)
    accuracy.add_argument("--epochs", type=int, default=3)
    accuracy.add_argument("--seeds", default="0,1")
    accuracy.add_argument("--data-dir", type=Path, default=None)
    overhead = sub.add_parser("overhead", help="a sweep's fixed overhead by phase, and per trial")
    overhead.add_argument("--trials", type=int, default=20)
    overhead.add_argument("--max-concurrent", type=int, default=2)
    overhead.add_argument("--repeats", type=int, default=3)
    everything = sub.add_parser("all", help="every benchmark at its defaults")
    everything.add_argument("--n-test", type=int, default=5000)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device: CUDA is not available on this machine", file=sys.stderr)
        return 2
    # each benchmark's module is imported only where it runs: the front's needs the store
    # (SQLAlchemy), which a bare GPU image may lack
    commands = [args.command] if args.command != "all" else ["machine", "step", "growl",
                                                              "eval", "pack", "front"]
    for command in commands:
        print(f"== {command}")
        if command == "machine":
            from benchmarks import machine

            machine.run(device)
        elif command == "step":
            from benchmarks import step

            if args.command == "step":
                only = [m for m in args.methods.split(",") if m]
                step.run(device, args.n, args.epochs, args.batch_size, args.repeats, only)
            else:
                step.run(device, 1024, 1, 256, 3)
        elif command == "growl":
            from benchmarks import growl_speed

            growl_speed.run(device, getattr(args, "repeats", 5), getattr(args, "arch", "mdmtn"))
        elif command == "eval":
            from benchmarks import eval_speed

            eval_speed.run(device, args.n_test, getattr(args, "data_dir", None))
        elif command == "pack":
            from benchmarks import pack

            if args.command == "pack":
                pack.run(device, args.k, args.repeats, args.dataset, args.n_train, args.n_test,
                         args.epochs, args.batch_size, precision=args.precision)
            else:
                pack.run(device)
        elif command == "pack-size":
            from benchmarks import pack_size

            pack_size.run(device, args.k, n_train=args.n_train, batch=args.batch_size)
        elif command == "precision":
            from benchmarks import precision_accuracy

            seeds = tuple(int(s) for s in args.seeds.split(",") if s)
            precision_accuracy.run(args.n_train, args.epochs, seeds, args.data_dir)
        elif command == "overhead":
            from benchmarks import sweep_overhead

            sweep_overhead.run(args.trials, args.max_concurrent, args.repeats)
        elif command == "front":
            from benchmarks import front_speed

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
