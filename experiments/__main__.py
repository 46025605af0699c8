"""Command line: ``python -m experiments --logdir DIR [--quick] [--only NAME ...] [--seeds N]``."""

import argparse
import os
import sys
import time

from experiments import redo, runner, variants


def make_parser():
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description=(
            "Train the networks of the article 'Is ReLU Dead?' (inputs uniform(-1, 0)) with the "
            "Dead ReLU monitor (activations and gradients of every hidden layer per epoch), one run "
            "per variant in LOGDIR/<experiment>/<variant>, then write "
            "LOGDIR/results.md and results.csv. An interrupted run can be restarted with the same "
            "command: complete runs are kept, the interrupted one is trained again."
        ),
    )
    parser.add_argument("--logdir", required=True, help="log folder to write the runs into")
    parser.add_argument(
        "--quick", action="store_true",
        help="%d samples and %d epochs per variant (a few minutes on 2 CPU cores) instead of the "
        "article's %d samples (%d epochs)"
        % (variants.QUICK.samples, variants.QUICK.epochs, variants.FULL.samples, variants.FULL.epochs),
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", choices=variants.names(),
        help="run only these experiments or runs: %s" % ", ".join(variants.names()),
    )
    parser.add_argument("--samples", type=int, help="override the number of samples per variant")
    parser.add_argument("--epochs", type=int, help="override the number of epochs per variant")
    parser.add_argument("--batch-size", type=int, help="override the batch size")
    parser.add_argument(
        "--seeds", type=int, metavar="N",
        help="model seeds per seed sweep (the one-unit net at seeds 0..N-1, each a run under seeds/); "
        "default %d with --quick, %d without; 0 leaves the sweeps out; also the seeds per arm of the ReDo "
        "comparison (default %d with --quick)" % (variants.QUICK.seeds, variants.FULL.seeds, variants.QUICK.redo_seeds),
    )
    parser.add_argument(
        "--seed", type=int, default=variants.SEED,
        help="seed of the data and of every model's initial weights, except the seed sweeps' "
        "(default %(default)s)",
    )
    return parser


def main(argv=None):
    args = make_parser().parse_args(argv)
    base = variants.QUICK if args.quick else variants.FULL
    try:
        scale = variants.Scale(
            samples=args.samples or base.samples,
            epochs=args.epochs or base.epochs,
            batch_size=args.batch_size or base.batch_size,
            seeds=base.seeds if args.seeds is None else args.seeds,
            redo_seeds=base.redo_seeds if args.seeds is None else args.seeds,
        )
    except ValueError as e:
        make_parser().error(str(e))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.monotonic()
    try:
        results_md = runner.run(args.logdir, only=args.only, scale=scale, seed=args.seed,
                                nonstationary=redo.QUICK if args.quick else redo.FULL)
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("Done in %.0f s. Results: %s" % (time.monotonic() - start, results_md), flush=True)
    print("View them: tensorboard --logdir %s  (Dead ReLU tab)" % args.logdir, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
