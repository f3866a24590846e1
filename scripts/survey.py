"""A real-vs-fake human study of your results: build a survey, serve it on localhost, score the answers.

    # 11 real masked faces and 11 of G_AB's, copied under opaque names, one format and size
    python scripts/survey.py build --real datasets/masks/testB \\
        --fake results/masks/test_latest/images --fake_glob '*_fake_B.png' --n 22 --out surveys/masks --seed 0
    # respondents open http://127.0.0.1:8000/ ; every answer is on disk before it is acknowledged
    python scripts/survey.py serve surveys/masks --port 8000
    # fooling rate, error rate, scores with 95% intervals: surveys/masks/report/report.md (+ scores.png)
    python scripts/survey.py score surveys/masks

A survey shows one kind of face. The build tells masked from unmasked faces where their place says
(util/survey/build.py's FaceKinds): test.py outputs by their label, read as evaluate.py reads it with
the folder's test_opt.json (a CycleGAN run's fake_B and an AtoB pix2pix run's fake_B are masked faces;
a CycleGAN run's fake_A and a BtoA pix2pix run's fake_B, which take masks off, unmasked ones), and the
images of a dataroot's <phase>A (unmasked) and <phase>B (masked). Reals of another kind than the fakes
are refused: a BtoA pix2pix run's fakes make a survey of unmasked faces, with unmasked --real (testA).

The survey folder's layout and the rules the server enforces are described in util/survey/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from util.cli import OneLineParser, non_negative_int, positive_int  # noqa: E402
from util.errors import run_cli  # noqa: E402
from util.survey import folder, scoring  # noqa: E402

MIN_SIZE, MAX_SIZE = 16, 4096


def image_size(text: str) -> int:
    value = int(text)
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {text}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) to 65535, got {text}")
    return value


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="survey.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="{build,serve,score}")

    b = sub.add_parser("build", help="pick a balanced random set and write the survey folder")
    b.add_argument("--real", action="append", required=True, metavar="DIR",
                   help="folder of real images (searched recursively; repeat the flag for several)")
    b.add_argument("--fake", action="append", required=True, metavar="DIR",
                   help="folder of generated images, e.g. test.py's images/ (repeat for several)")
    b.add_argument("--real_glob", default=None, metavar="PATTERN",
                   help="only real files whose name matches, e.g. '*_real_B.png' (case-insensitive)")
    b.add_argument("--fake_glob", default=None, metavar="PATTERN",
                   help="only generated files whose name matches, e.g. '*_fake_B.png' (needed for test.py folders)")
    b.add_argument("--n", type=positive_int, default=22,
                   help="images in the survey, half real, half fake (default: 22)")
    b.add_argument("--out", required=True, metavar="SURVEY_DIR", help="new folder to write the survey into")
    b.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the random choice (default: drawn and kept in key.json)")
    b.add_argument("--size", type=image_size, default=256,
                   help="every image is centre-cropped square and resized to this many pixels (default: 256)")
    b.add_argument("--format", choices=sorted(folder.FORMATS), default="png",
                   help="format every image is re-encoded in (default: png)")
    b.add_argument("--allow_same_face", action="store_true",
                   help="allow a real image of a face that is also among the fakes (by file name)")
    b.add_argument("--title", default="Real or fake?", help="the page's title")
    b.add_argument("--exposure_ms", type=non_negative_int, default=0,
                   help="hide each photo after this many milliseconds (default: 0, shown until answered)")

    s = sub.add_parser("serve", help="serve the survey page and take answers")
    s.add_argument("survey", metavar="SURVEY_DIR")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    s.add_argument("--port", type=port_number, default=8000, help="port (default: 8000; 0 picks a free one)")
    s.add_argument("--max_respondents", type=positive_int, default=10_000,
                   help="refuse new respondents beyond this many (default: 10000)")

    c = sub.add_parser("score", help="fooling rate, error rate and scores with 95%% intervals; a markdown report")
    c.add_argument("survey", metavar="SURVEY_DIR")
    c.add_argument("--out", default=None, help="report folder (default: SURVEY_DIR/report)")
    c.add_argument("--include_partial", action="store_true",
                   help="count the answers of respondents who did not finish (their scores are never counted)")
    c.add_argument("--bootstrap", type=non_negative_int, default=10_000,
                   help="bootstrap draws over respondents for the intervals (default: 10000; 0 skips them)")
    c.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed (default: 0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "build":
        from scripts.evaluate import result_directions  # what a test.py folder's labels are, as evaluate.py reads them
        from util.survey import build  # PIL and the data package (torch) only for building
        survey = build.build_survey(
            build.Source("--real", tuple(args.real), args.real_glob),
            build.Source("--fake", tuple(args.fake), args.fake_glob),
            args.n, args.out, seed=args.seed, size=args.size, fmt=args.format, allow_same_face=args.allow_same_face,
            title=args.title, exposure_ms=args.exposure_ms, kind_of=build.FaceKinds(result_directions))
        faces = f" of {survey['faces']} faces" if survey["faces"] else ""
        print(f"survey: wrote {args.out}: {survey['n_real']} real and {survey['n_fake']} fake images{faces} "
              f"({args.size} px {args.format}); serve it with: python scripts/survey.py serve {args.out}")
        return 0
    if args.command == "serve":
        from util.survey.server import serve  # the http.server machinery only where it is used
        return serve(args.survey, args.host, args.port, args.max_respondents)
    summary = scoring.score_survey(args.survey, include_partial=args.include_partial, bootstrap=args.bootstrap,
                                   seed=args.seed)
    out = Path(args.out) if args.out else Path(args.survey) / "report"
    scoring.write_report(summary, out)
    f, e, sc = summary["fooling_rate"], summary["error_rate"], summary["scores"]
    print(f"survey: {summary['respondents']['counted']} respondents, {summary['answers']} answers; "
          f"fooling rate {scoring.pct(f['rate'])} ({f['k']}/{f['n']}), error rate {scoring.pct(e['rate'])} "
          f"({e['k']}/{e['n']}), mean score {scoring.num(sc['mean'])} of {sc['of']}; report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "survey.py"))
