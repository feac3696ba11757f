"""Blind preference between our default and jcjohnson/neural-style's published results (the anchors).

    python bench/blind.py make [--results DIR] [--seed N]   # panels + a key kept apart
    python bench/blind.py score ANSWERS.json [ANSWERS.json ...]

``make`` stylizes the photo after each of the 7 anchor pairs with the default settings (strength 50, balanced, 512
px, the pair's style scale) on the trained network this machine has, or takes the results from --results DIR
(<pair>.png), and writes for every pair two panels, one in each order: the photo and the painting above, results
X and Y below.  Panels get shuffled numbers; which side is ours is written only to bench/out/blind/key.json, which
reviewers must not see.  bench/out/blind/panels/ holds the panels and README.txt, the reviewers' instructions and
answer form (also written as answers_template.json).

``score`` reads reviewers' answers (one JSON file each, as the template) against the key and prints, per pair and
in all: how often ours was chosen, with what confidence, and the faults named for each side; and whether the issue's
goals hold: ours chosen in at least half of the decisions, and none of the banned faults (sheen, metallic, embossed,
grid, colours not in the painting) named for ours in most decisions.  Anchors and pictures made from them stay
under bench/out (git-ignored), as ../shared/anchors/README.md asks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import ANCHOR_CONTENT, ANCHOR_PAIRS, OUT, load_image, pair_images, to_pil, trained_backbone  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402

BLIND = OUT / "blind"
PANEL_SIDE = 512  # px: each image's long side in a panel, the size the anchors were made at
CONFIDENCE = ("clear", "moderate", "slight")
FAULTS = ("sheen", "metallic", "embossed", "grid", "colours not in the painting", "photo with a texture overlaid",
          "smeared or dissolved shapes", "noisy grain", "flat, no brush strokes", "too far from the photo")
BANNED = FAULTS[:5]  # the goal: none of these named for ours in most decisions

INSTRUCTIONS = f"""Blind review: which result looks more like the photo painted by the painter?

Each panel shows the photo (top left) and the painting (top right), and below them two results, X (left) and Y
(right), both made from that photo in that painting's style.  Judge each panel on its own, at the size shown and up
close: which one would you rather have as a painting of the photo in that style?  There is no right answer; say
what you see.

For every panel, answer in answers_template.json (copy it, fill it in):
  "choice": "X" or "Y"
  "confidence": one of {", ".join(CONFIDENCE)}
  "faults": for "X" and for "Y", a list of the faults you see, from:
      {json.dumps(list(FAULTS))}
      (none is fine: [])
  "words": a sentence on what decided it
"""


def results_for(pairs: list[Any], results_dir: Path | None) -> dict[str, np.ndarray]:
    """Our result per pair: read from ``results_dir`` (<pair>.png), or made with the engine's defaults at 512 px."""
    if results_dir is not None:
        return {p.name: load_image(results_dir / f"{p.name}.png") for p in pairs}
    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights_file, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights_file})
    print(f"stylizing with the default settings on {described}", flush=True)
    content = load_image(ANCHOR_CONTENT)
    out = {}
    for pair in pairs:
        out[pair.name] = engine.stylize(content, load_image(pair.style), StyleParams(
            backbone=backbone, size=PANEL_SIDE, style_scale=pair.style_scale))
        (BLIND / "ours").mkdir(parents=True, exist_ok=True)
        to_pil(out[pair.name]).save(BLIND / "ours" / f"{pair.name}.png")
        print(f"  {pair.name}", flush=True)
    return out


def fitted(image: np.ndarray, side: int = PANEL_SIDE) -> Image.Image:
    pil = to_pil(image)
    scale = side / max(pil.size)
    return pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.LANCZOS)


def blind_panel(photo: np.ndarray, painting: np.ndarray, x: np.ndarray, y: np.ndarray) -> Image.Image:
    """Photo and painting above, X and Y below, each labelled, on white."""
    tiles = [fitted(photo), fitted(painting), fitted(x), fitted(y)]
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    band, gap = 22, 10
    canvas = Image.new("RGB", (2 * cell_w + gap, 2 * (cell_h + band) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (tile, label) in enumerate(zip(tiles, ("photo", "painting", "X", "Y"), strict=True)):
        left, top = (i % 2) * (cell_w + gap), (i // 2) * (cell_h + band + gap)
        draw.text((left + 4, top + 4), label, fill="black")
        canvas.paste(tile, (left, top + band))
    return canvas


def make(args: argparse.Namespace) -> None:
    pairs = list(ANCHOR_PAIRS)
    ours = results_for(pairs, args.results)
    content = load_image(ANCHOR_CONTENT)
    rng = random.Random(args.seed)
    entries = []
    for pair in pairs:
        images = pair_images(pair, content, load_image(pair.style), PANEL_SIDE)
        for ours_side in ("X", "Y"):
            entries.append((pair, ours_side, images))
    rng.shuffle(entries)
    panels_dir = BLIND / "panels"
    panels_dir.mkdir(parents=True, exist_ok=True)
    for old in panels_dir.glob("panel_*.png"):
        old.unlink()
    key: dict[str, Any] = {"seed": args.seed, "panels": {}}
    template: dict[str, Any] = {}
    for number, (pair, ours_side, images) in enumerate(entries, 1):
        panel_id = f"panel_{number:02d}"
        ours_image = ours[pair.name]
        x, y = (ours_image, images.anchor) if ours_side == "X" else (images.anchor, ours_image)
        blind_panel(images.content, load_image(pair.style), x, y).save(panels_dir / f"{panel_id}.png")
        key["panels"][panel_id] = {"pair": pair.name, "ours": ours_side}
        template[panel_id] = {"choice": "", "confidence": "", "faults": {"X": [], "Y": []}, "words": ""}
    (panels_dir / "README.txt").write_text(INSTRUCTIONS)
    (panels_dir / "answers_template.json").write_text(json.dumps(template, indent=2) + "\n")
    (BLIND / "key.json").write_text(json.dumps(key, indent=2) + "\n")
    print(f"{len(entries)} panels in {panels_dir}; the key is {BLIND / 'key.json'} (keep it from the reviewers)")


def score(args: argparse.Namespace) -> dict[str, Any]:
    key = json.loads((BLIND / "key.json").read_text())["panels"]
    per_pair: dict[str, dict[str, Any]] = {}
    decisions = ours_chosen = banned_for_ours = 0
    for path in args.answers:
        answers = json.loads(Path(path).read_text())
        missing = sorted(set(key) - set(answers))
        if missing:
            raise SystemExit(f"{path} lacks answers for {', '.join(missing)}")
        for panel_id, answer in answers.items():
            if panel_id not in key:
                raise SystemExit(f"{path}: unknown panel {panel_id}")
            choice, confidence = answer.get("choice"), answer.get("confidence")
            if choice not in ("X", "Y") or confidence not in CONFIDENCE:
                raise SystemExit(f"{path} {panel_id}: choice must be X or Y and confidence one of {CONFIDENCE}")
            truth = key[panel_id]
            theirs_side = "Y" if truth["ours"] == "X" else "X"
            faults_ours = [f for f in answer.get("faults", {}).get(truth["ours"], []) if f in FAULTS]
            faults_theirs = [f for f in answer.get("faults", {}).get(theirs_side, []) if f in FAULTS]
            row = per_pair.setdefault(truth["pair"], {"decisions": 0, "ours": 0, "confidence": Counter(),
                                                      "faults_ours": Counter(), "faults_classic": Counter(),
                                                      "words": []})
            won = choice == truth["ours"]
            row["decisions"] += 1
            row["ours"] += won
            row["confidence"][f"{'ours' if won else 'classic'} {confidence}"] += 1
            row["faults_ours"].update(faults_ours)
            row["faults_classic"].update(faults_theirs)
            row["words"].append(answer.get("words", ""))
            decisions += 1
            ours_chosen += won
            banned_for_ours += any(f in BANNED for f in faults_ours)
    print("| pair | ours chosen | confidence | faults named for ours | faults named for the classic |")
    print("|---|---|---|---|---|")
    for name, row in per_pair.items():
        def fmt(counter: Counter) -> str:
            return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"
        print(f"| {name} | {row['ours']}/{row['decisions']} | {fmt(row['confidence'])} | {fmt(row['faults_ours'])} | "
              f"{fmt(row['faults_classic'])} |")
    goals = {"ours_chosen": f"{ours_chosen}/{decisions}", "ours_chosen_goal_met": ours_chosen * 2 >= decisions,
             "decisions_with_a_banned_fault_for_ours": f"{banned_for_ours}/{decisions}",
             "banned_fault_goal_met": banned_for_ours * 2 < decisions}
    print("\n" + json.dumps(goals, indent=2))
    report = {"goals": goals, "per_pair": {n: {**r, "confidence": dict(r["confidence"]),
                                               "faults_ours": dict(r["faults_ours"]),
                                               "faults_classic": dict(r["faults_classic"])}
                                           for n, r in per_pair.items()}}
    (BLIND / "score.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="panels and the key")
    m.add_argument("--results", type=lambda p: Path(p).resolve(),  # not against the shared images' folder
                   help="folder with our results as <pair>.png (default: stylize now)")
    m.add_argument("--seed", type=int, default=16, help="shuffles the panels and the sides")
    s = sub.add_parser("score", help="score answers against the key")
    s.add_argument("answers", nargs="+", type=Path)
    args = parser.parse_args()
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    sys.exit(main())
