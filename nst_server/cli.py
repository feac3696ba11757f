"""Command line: ``python -m nst_server stylize|serve|weights``; a thin shell over the engine and server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from nst_server import paths, protocol


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    p = protocol.PARAMETERS
    parser.add_argument("--size", type=int, default=p["size"].default, help=p["size"].help)
    parser.add_argument("--steps", type=int, default=p["steps"].default, help=p["steps"].help)
    parser.add_argument("--method", choices=protocol.METHODS, default=p["method"].default, help=p["method"].help)
    parser.add_argument("--backbone", choices=protocol.BACKBONES, default=p["backbone"].default, help=p["backbone"].help)
    parser.add_argument("--seed", type=int, default=p["seed"].default, help=p["seed"].help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nst_server", description="GIMP Style Transfer server and tools")
    sub = parser.add_subparsers(dest="command", required=True)

    stylize = sub.add_parser("stylize", help="stylize an image file")
    stylize.add_argument("content", type=Path)
    stylize.add_argument("style", type=Path)
    stylize.add_argument("-o", "--output", type=Path, required=True)
    stylize.add_argument("--weights", help="weights file for the chosen backbone (default: installed or downloaded)")
    _add_engine_options(stylize)

    serve = sub.add_parser("serve", help="run the server the GIMP plug-in talks to")
    serve.add_argument("--weights", help="weights file for VGG19")
    serve.add_argument("--runtime-dir", type=Path, help="folder for socket and runtime file (default: per user)")
    serve.add_argument("--idle-timeout", type=float, default=1800.0, help="exit after this many idle seconds (0: never)")

    weights = sub.add_parser("weights", help="install or locate model weights")
    weights.add_argument("action", choices=("fetch", "install", "path"))
    weights.add_argument("file", nargs="?", help="with 'install': a local weights file")
    weights.add_argument("--backbone", choices=protocol.BACKBONES, default="vgg19")
    return parser


def _stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nst_server import images
    from nst_server.engine import StyleTransferEngine

    params = protocol.validate_params(
        {"size": args.size, "steps": args.steps, "method": args.method, "backbone": args.backbone, "seed": args.seed}
    )
    content = images.load_image_file(args.content)
    style = images.load_image_file(args.style)
    engine = StyleTransferEngine({args.backbone: args.weights} if args.weights else None)
    with tqdm(total=args.steps, unit="step", desc="stylizing") as bar:

        def progress(p) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{p.loss:.4g}")

        result = engine.stylize(content, style, progress=progress, **params)
    images.save_image_file(result, args.output)
    print(f"wrote {args.output} ({result.shape[1]}x{result.shape[0]})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from nst_server.engine import StyleTransferEngine
    from nst_server.server import AlreadyRunning, StyleServer

    log_dir = paths.state_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(log_dir / "server.log"), logging.StreamHandler()],
    )
    server = StyleServer(
        lambda: StyleTransferEngine({"vgg19": args.weights} if args.weights else None),
        runtime_dir=args.runtime_dir,
        idle_timeout=args.idle_timeout or None,
    )
    try:
        server.serve_forever()
    except AlreadyRunning as exc:
        print(f"nst_server: {exc}", file=sys.stderr)
        return 3
    return 0


def _weights(args: argparse.Namespace) -> int:
    from nst_server import weights

    if args.action == "path":
        print(weights.find_weights(args.backbone))
    elif args.action == "fetch":
        path = weights.installed_path(args.backbone) or weights.download_weights(args.backbone)
        print(f"{args.backbone.upper()} weights: {path}")
    else:
        if not args.file:
            raise weights.WeightsMissing("'weights install' needs the path of a weights file")
        path = weights.install_weights_file(args.backbone, args.file)
        kind = "official ImageNet file" if weights.is_official(args.backbone, path) else "not the official ImageNet file"
        print(f"{args.backbone.upper()} weights installed: {path} ({kind})")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides real messages
    args = build_parser().parse_args(argv)
    from nst_server.protocol import ProtocolError

    try:
        return {"stylize": _stylize, "serve": _serve, "weights": _weights}[args.command](args)
    except ProtocolError as exc:
        print(f"nst_server: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:
        from nst_server.weights import WeightsMissing

        if isinstance(exc, WeightsMissing):
            print(f"nst_server: {exc}", file=sys.stderr)
            return 4
        raise
