"""Command line: ``python -m nst_server stylize|serve|weights``; a thin shell over the engine and server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nst_server.client import paths, protocol
from nst_server.client.params import BACKBONES, SPECS, StyleParams


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    """One option per parameter (client/params.py), so the command line and the plug-in offer the same controls."""
    for spec in SPECS.values():
        flag = "--" + spec.argument
        if spec.automatic:  # as in the dialog: 0 is automatic (for the size: the result at the photo's own size)
            parser.add_argument(flag, type=spec.kind, default=0, help=f"{spec.help}: 0 (the default) is automatic, the "
                                "most the preset finishes within its time on this machine; else "
                                f"{spec.minimum:g} to {spec.maximum:g}. The result is written at the photo's own size")
        elif spec.choices:
            parser.add_argument(flag, choices=spec.choices, default=spec.default, help=spec.help)
        else:
            parser.add_argument(flag, type=spec.kind, default=spec.default,
                                help=f"{spec.help} ({spec.minimum:g} to {spec.maximum:g}, default {spec.default:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nst_server", description="GIMP Style Transfer server and tools")
    sub = parser.add_subparsers(dest="command", required=True)

    stylize = sub.add_parser("stylize", help="stylize an image file")
    stylize.add_argument("content", type=Path)
    stylize.add_argument("style", type=Path, nargs="+", help="one or more style images")
    stylize.add_argument("--style-weights", type=float, nargs="+", help="blend weight of each style image")
    stylize.add_argument("-o", "--output", type=Path, required=True)
    stylize.add_argument("--weights", help="weights file for the chosen backbone (default: installed or downloaded)")
    _add_engine_options(stylize)

    serve = sub.add_parser("serve", help="run the server the GIMP plug-in talks to")
    serve.add_argument("--weights", help="weights file for VGG19")
    serve.add_argument("--runtime-dir", type=Path, help="folder for socket and runtime file (default: per user)")
    serve.add_argument("--idle-timeout", type=float, default=1800.0, help="exit after this many idle seconds (0: never)")
    serve.add_argument("--transport", choices=("ipc", "tcp"), help="local socket kind (default: ipc; tcp on Windows)")
    serve.add_argument("--remote", type=Path, metavar="DIR", help="serve other machines with the keys made by remote-setup")
    serve.add_argument("--queue-limit", type=int, default=8, help="jobs queued or running at most")
    serve.add_argument("--max-megapixels", type=float, default=protocol.MAX_PIXELS / 2**20, help="largest layer accepted")
    serve.add_argument("--max-buffer-mb", type=float, default=protocol.MAX_BUFFER_BYTES / 2**20, help="largest frame accepted")
    serve.add_argument("--max-job-seconds", type=float, default=3600.0, help="jobs running longer are stopped")

    remote_setup = sub.add_parser("remote-setup", help="make keys for a server that other machines use")
    remote_setup.add_argument("dir", type=Path, help="private folder for the server's keys")
    remote_setup.add_argument("--endpoint", required=True, help="address clients connect to, e.g. tcp://gpu-box:5555")
    remote_setup.add_argument("--bind", help="address to listen on (default: the endpoint's own address and port; "
                                             "tcp://0.0.0.0:PORT listens on every interface)")
    remote_client = sub.add_parser("remote-add-client", help="allow one more client and write its connection file")
    remote_client.add_argument("dir", type=Path)
    remote_client.add_argument("name")
    remote_client.add_argument("-o", "--output", type=Path, required=True, help="connection file for the client")

    weights = sub.add_parser("weights", help="install or locate model weights")
    weights.add_argument("action", choices=("fetch", "install", "path"))
    weights.add_argument("file", nargs="?", help="with 'install': a local weights file")
    weights.add_argument("--backbone", choices=BACKBONES, default=SPECS["backbone"].default)
    return parser


def _stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nst_server.engine import images
    from nst_server.engine.engine import StyleTransferEngine
    from nst_server.engine.enlarge import enlarge

    params = StyleParams.from_controls(vars(args))
    automatic = not args.size
    weights = args.style_weights or [1.0] * len(args.style)
    if len(weights) != len(args.style):
        raise protocol.ProtocolError("bad_parameter", f"{len(args.style)} style images but {len(weights)} --style-weights")
    protocol.parse_styles([{"name": str(p), "weight": w} for p, w in zip(args.style, weights, strict=True)], len(weights))
    content = images.load_image_file(args.content)
    styles = [images.load_image_file(path) for path in args.style]
    engine = StyleTransferEngine({args.backbone: args.weights} if args.weights else None)
    if automatic and params.method == "multiscale":
        from nst_server.client import estimate

        speed = engine.measured_speed(params.backbone).for_clients()
        size = estimate.auto_detail(speed, *content.shape[:2], params.preset, params.steps, params.precision)
        params = params.replace(size=size)
        seconds = estimate.estimate_seconds(speed, *content.shape[:2], size, params.preset, params.steps,
                                            params.precision)
        print(f"automatic detail: {size} px, {estimate.describe_seconds(seconds)}", flush=True)
    with tqdm(unit="step", desc="stylizing") as bar:

        def progress(p) -> None:
            bar.total = p.total
            bar.update(p.step - bar.n)
            bar.set_postfix(loss=f"{p.loss:.4g}")

        result = engine.stylize(content, styles, params, style_weights=weights, progress=progress)
    result = enlarge(result, content)  # at the photo's own size, as the plug-in's layers are
    images.save_image_file(result, args.output)
    print(f"wrote {args.output} ({result.shape[1]}x{result.shape[0]})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from nst_server.service.endpoint import AlreadyRunning, CannotListen
    from nst_server.service.logs import setup_server_logging
    from nst_server.service.server import StyleServer
    from nst_server.service.validation import Limits
    from nst_server.service.worker import EngineWorker

    os.umask(0o077)  # every file the server and its engine write (log, caches, Keras's settings) is private
    try:
        setup_server_logging(paths.state_dir())
        remote = None
        if args.remote:
            from nst_server.service import remote as remote_mode

            try:
                remote = remote_mode.load(args.remote)
            except ValueError as exc:
                print(f"nst_server: {exc}", file=sys.stderr)
                return 2
        limits = Limits(
            max_pixels=int(args.max_megapixels * 2**20),
            max_buffer_bytes=int(args.max_buffer_mb * 2**20),
            max_job_seconds=args.max_job_seconds,
        )
        server = StyleServer(
            EngineWorker({"vgg19": str(Path(args.weights).resolve())} if args.weights else None),
            runtime_dir=args.runtime_dir,
            limits=limits,
            queue_limit=args.queue_limit,
            idle_timeout=args.idle_timeout or None,
            transport=args.transport,
            remote=remote,
        )
        server.serve_forever()
    except AlreadyRunning as exc:
        print(f"nst_server: {exc}", file=sys.stderr)
        return 3
    except CannotListen as exc:
        print(f"nst_server: {exc}", file=sys.stderr)
        return 5
    except OSError as exc:  # a folder or file it cannot use (runtime.UnsafeRuntime: another user's): which, and why
        print(f"nst_server: {_unusable(exc)}", file=sys.stderr)
        return 6
    return 0


def _unusable(exc: OSError) -> str:
    from nst_server.client.runtime import UnsafeRuntime

    if not isinstance(exc, UnsafeRuntime) and exc.filename:
        return protocol.printable(f"cannot use {exc.filename}: {exc.strerror or exc}", 500)
    return protocol.printable(str(exc), 500)


def _private_keras_settings() -> None:
    """Keras reads keras.json when it is imported and fails outright on one nested too deep (RecursionError);
    a FIFO there blocks it.  In our own Keras folder, a file that is not a small JSON object is removed,
    and Keras writes a fresh one."""
    settings = Path(os.environ["KERAS_HOME"]) / "keras.json"
    if os.path.lexists(settings) and paths.read_json_object(settings) is None:
        try:
            (os.rmdir if settings.is_dir() and not settings.is_symlink() else os.unlink)(settings)
        except OSError:
            pass


def _weights(args: argparse.Namespace) -> int:
    from nst_server.engine import weights

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


def _remote(args: argparse.Namespace) -> int:
    from nst_server.client import runtime
    from nst_server.service import remote

    if args.command == "remote-setup":
        try:
            written = remote.setup(args.dir, args.endpoint, args.bind)
        except ValueError as exc:
            print(f"nst_server: {exc}", file=sys.stderr)
            return 2
        print(f"server keys written to {written}")
        print(f"it will listen on {args.bind or args.endpoint} only")
        print(f"start it with: python -m nst_server serve --remote {args.dir}")
    else:
        try:
            info = remote.add_client(args.dir, args.name)
        except ValueError as exc:
            print(f"nst_server: {exc}", file=sys.stderr)
            return 2
        runtime.write_private_json(args.output, info)
        print(f"client '{args.name}' allowed; give {args.output} to its owner: python3 install.py --remote {args.output.name}")
        print("restart the server to load the new allow-list")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides real messages
    if "KERAS_HOME" not in os.environ and not (Path.home() / ".keras").exists():
        os.environ["KERAS_HOME"] = str(paths.data_dir() / "keras")  # Keras's settings file: ours, not a new ~/.keras
        _private_keras_settings()
    args = build_parser().parse_args(argv)
    from nst_server.client.protocol import ProtocolError

    try:
        commands = {"stylize": _stylize, "serve": _serve, "weights": _weights,
                    "remote-setup": _remote, "remote-add-client": _remote}
        return commands[args.command](args)
    except ProtocolError as exc:
        print(f"nst_server: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:
        from nst_server.engine.weights import WeightsMissing
        from nst_server.pipe.image_checks import ImageError

        if isinstance(exc, ImageError):  # an image file the engine cannot read
            print(f"nst_server: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WeightsMissing):
            print(f"nst_server: {exc}", file=sys.stderr)
            return 4
        raise
