"""``workbench list | describe | run | resume | eval | sample | explain | compare | export | sweep | serve``.

Start-up is kept light: ``--help``, ``list`` and ``describe`` import neither torch nor wandb
nor any plugin module. Bad input is one paragraph on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench import __version__, registry
from workbench.errors import UserError, check_folder

EPILOG = """examples:
  workbench list
  workbench describe dqn-pong
  workbench run dqn-pong lr=1e-4 total_steps=2e6 --name my-run
  workbench resume runs/dqn-pong/my-run
  workbench eval runs/dqn-pong/my-run --episodes 10 --video
  workbench eval --pretrained dqn-pong --episodes 3
  workbench sample runs/dcgan-mnist/<run> --n 64
  workbench explain runs/classifier-digits/<run> --method integrated-gradients --n 16
  workbench compare --group dqn-cartpole --metric eval/return --out curves.png
  workbench serve runs/classifier-digits/<run> --port 8000
"""


def _add_wandb(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wandb", choices=("online", "offline", "disabled"), default=None,
                   help="W&B mode (default: online if logged in, else offline)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Train RL agents, generators and classifiers with one loop and many plugins.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="plugins and presets, with their kind and description")
    p.add_argument("--check", action="store_true", help="also import every plugin to find broken ones (slow)")

    p = sub.add_parser("describe", help="every config field of a plugin or preset")
    p.add_argument("name")

    p = sub.add_parser("run", help="start a run: workbench run NAME [key=value ...]",
                       description="Start a run of a plugin or preset. Overrides are key=value "
                       "(dotted keys for nested configs: optim.lr=3e-4). With --config FILE.yaml "
                       "(a run's config.yaml or a subset naming `preset:` or `plugin:`) the "
                       "file's keys come first and the command line's on top.")
    p.add_argument("name", nargs="?", help="plugin or preset (or `preset:` in the --config file)")
    p.add_argument("--config", type=Path, default=None, metavar="FILE.yaml",
                   help="config keys from a YAML file (a run's own config.yaml, or a subset)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--name", dest="run_name", default=None, help="run name (default: time + seed)")
    p.add_argument("--tag", action="append", default=[], help="W&B tag (repeatable)")
    p.add_argument("--project", default="workbench", help="W&B project (default: workbench)")
    _add_wandb(p)

    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. total_steps=2e6")
    _add_wandb(p)

    p = _hook_parser(sub, "eval", "evaluate a run's last checkpoint")
    p.add_argument("--pretrained", default=None, metavar="NAME|FILE",
                   help="evaluate the weights a preset ships (e.g. dqn-pong) or a file from "
                   "`export --format weights` instead of a run; takes its plugin's eval options")
    p = _hook_parser(sub, "sample", "generate from a run's last checkpoint")
    p.add_argument("--out", type=Path, default=None, help="output file (or DIR/ for single images)")
    p = _hook_parser(sub, "explain", "show what a run's model looked at (attributions, via Captum)")
    p.add_argument("--out", type=Path, default=None, help="a folder for the files (default: the "
                   "run's media/, and W&B; with --out nothing is written into the run)")
    p.add_argument("--pretrained", default=None, metavar="NAME|FILE",
                   help="explain the weights a preset ships (e.g. dqn-pong) or a weights file "
                   "instead of a run; needs --out")
    _add_wandb(p)

    p = sub.add_parser("compare", help="table and curves across runs",
                       description="Config differences and final/best metric per run, ranked; "
                       "seeds of the same config summarised together; optional PNG/CSV/Markdown.")
    p.add_argument("run_dirs", nargs="*", help="run directories (or folders of them)")
    p.add_argument("--group", default=None, help="all runs of a preset (runs/<group>/*)")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag (repeatable)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose config has this value, e.g. optim.lr=1e-4 (repeatable)")
    p.add_argument("--metric", default=None, help="metric to plot and rank by (default: the "
                   "plugin's primary metric, see `workbench describe`)")
    p.add_argument("--goal", choices=("auto", "min", "max"), default="auto",
                   help="is lower or higher better (auto: the plugin's declared goal for its "
                   "primary metric, else lower for loss/error/mse/fd names)")
    p.add_argument("--rank-by", choices=("final", "best"), default="final",
                   help="rank runs by the metric's final value (default: what the run ends "
                   "with) or by its best value over the run")
    p.add_argument("--x", choices=("step", "time"), default="step", help="x-axis of the curves")
    p.add_argument("--out", type=Path, default=None, help="PNG of the curves")
    p.add_argument("--csv", type=Path, default=None, help="write the run table as CSV")
    p.add_argument("--curves-csv", type=Path, default=None,
                   help="write every logged number as a tidy CSV: run, step, metric, value")
    p.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown")

    # export, sweep, rerun/config files and the runs list define their own sub-commands; the
    # modules are light (torch, optuna and the plugins are imported only when a command runs)
    from workbench.commands import configfile, export, listing, serve
    from workbench.studies import sweep

    for module in (export, sweep, configfile, listing, serve):
        module.add_parser(sub)
    for verb in sub.choices.values():  # `workbench run NAME -v` as well as `workbench -v run NAME`
        verb.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="more log output")
    return parser


# --------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    registry.load_all()
    rows = []
    broken = dict(registry.BROKEN)
    for spec in sorted(registry.PLUGINS.values(), key=lambda s: s.name):
        problem = registry.check_importable(spec)
        if problem is None and args.check:
            try:
                registry.load_plugin_class(spec)
            except UserError as e:
                problem = str(e)
        if problem:
            broken[spec.name] = problem
        rows.append((spec.name, spec.kind, "plugin", spec.description))
    for preset in sorted(registry.PRESETS.values(), key=lambda s: s.name):
        base = registry.PLUGINS.get(preset.plugin)
        kind = base.kind if base else "?"
        rows.append((preset.name, kind, f"preset of {preset.plugin}", preset.description))
    if rows:
        w0 = max(len(r[0]) for r in rows)
        w2 = max(len(r[2]) for r in rows)
        print(f"{'NAME':<{w0}}  {'KIND':<10} {'WHAT':<{w2}}  DESCRIPTION")
        for name, kind, what, desc in rows:
            mark = "  [broken]" if name in broken else ""
            print(f"{name:<{w0}}  {kind:<10} {what:<{w2}}  {desc}{mark}")
    else:
        print("no plugins registered")
    if broken:
        print("\nbroken (they cannot run until fixed):")
        for name, err in broken.items():
            print(f"  {name}: {err}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from workbench.config import build_config, iter_fields

    spec, preset = registry.resolve(args.name)
    cfg_cls = registry.load_config_class(spec)
    values = build_config(cfg_cls, dict(preset.overrides) if preset else {})
    head = f"{args.name}: {'preset of ' + spec.name if preset else 'plugin'} ({spec.kind})"
    print(head)
    desc = preset.description if preset else spec.description
    if desc:
        print(f"  {desc}")
    if preset and preset.overrides:
        print("  overrides: " + " ".join(f"{k}={v}" for k, v in preset.overrides.items()))
    from workbench.precision import describe_auto

    print("  " + describe_auto(getattr(cfg_cls, "auto_cpu_precision", "bf16-with-amx")))
    print()
    fields = list(iter_fields(cfg_cls))
    wk = max(len(f.path) for f in fields)
    wt = min(max(len(f.type_text) for f in fields), 28)
    for f in fields:
        value = values
        for part in f.path.split("."):
            value = getattr(value, part)
        shown = _show(value)
        print(f"{f.path:<{wk}}  {f.type_text:<{wt}}  {shown:<12}  {f.doc}")
    from workbench.options import HOOKS, NoOptions, describe_options, options_class

    for hook in HOOKS:
        cls = options_class(cfg_cls, hook)
        if cls is not NoOptions:
            print(f"\noptions of `workbench {hook} RUN_DIR`:")
            print("\n".join(describe_options(cls)))
    return 0


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if isinstance(v, str) and not v else str(v)


def cmd_run(args: argparse.Namespace) -> int:
    from workbench.config import parse_overrides
    from workbench.engine.loop import Launch, start

    name, raw = args.name, list(args.overrides)
    if name is not None and "=" in name:  # `run --config f.yaml lr=1e-3`: no name given
        name, raw = None, [name, *raw]
    overrides = parse_overrides(raw)
    if args.config is not None:
        from workbench.commands.configfile import with_config_file

        name, overrides = with_config_file(args.config, name, overrides)
    elif name is None:
        raise UserError("`workbench run` needs a plugin or preset (`workbench list` shows them) "
                        "or --config FILE.yaml: workbench run NAME [key=value ...].")
    code, _ = start(name, overrides, run_name=args.run_name, launch=Launch.from_args(args))
    return code


def cmd_resume(args: argparse.Namespace) -> int:
    from workbench.config import parse_overrides
    from workbench.engine.loop import Launch, resume

    code, _ = resume(args.run_dir, parse_overrides(args.overrides), launch=Launch.from_args(args))
    return code


def _hook_parser(sub: Any, hook: str, help_text: str) -> argparse.ArgumentParser:
    """A verb on a finished run whose options the run's plugin declares (workbench/options.py):
    they are read after the run directory, so ``--help`` needs the run to list them."""
    p = sub.add_parser(hook, help=help_text, add_help=False,
                       description=f"{help_text[0].upper()}{help_text[1:]}. The options after "
                       f"RUN_DIR are the plugin's own: `workbench {hook} RUN_DIR --help` lists them.")
    p.add_argument("-h", "--help", action="store_true", help="show this help (with RUN_DIR: the "
                   "plugin's options too) and exit")
    p.add_argument("run_dir", nargs="?", help="a run directory")
    p.set_defaults(hook=hook, hook_options=[], hook_parser=p)
    return p


def _parse_hook_options(args: argparse.Namespace) -> Any:
    """The plugin's typed options for this verb, read before any checkpoint or torch import;
    None when help was printed instead."""
    from workbench.engine.runs import open_run
    from workbench.options import describe_options, options_class, parse_options

    if args.run_dir is None:
        if args.help:
            args.hook_parser.print_help()
            return None
        raise UserError(f"`workbench {args.hook}` needs a run directory: workbench {args.hook} "
                        f"RUN_DIR [options]. `workbench {args.hook} RUN_DIR --help` lists the options.")
    info = open_run(args.run_dir).read_info()
    spec, _ = registry.resolve(info.plugin)
    cls = options_class(registry.load_config_class(spec), args.hook)
    if args.help:
        args.hook_parser.print_help()
        print(f"\noptions of plugin '{spec.name}' for `{args.hook}`:")
        print("\n".join(describe_options(cls)))
        return None
    return parse_options(cls, args.hook_options, f"`workbench {args.hook}` of plugin '{spec.name}'")


def _pretrained_tokens(argv: list[str], command: str) -> list[str]:
    """``eval --pretrained X --episodes 3``: every token after the command but help and the
    flags its parser reads itself (--pretrained; for explain --out and --wandb too), each with
    its value; argparse alone would take the 3 for the (optional) run directory."""
    own = {"--pretrained"} | ({"--out", "--wandb"} if command == "explain" else set())
    rest = argv[argv.index(command) + 1:]
    out: list[str] = []
    skip = False
    for token in rest:
        if skip:
            skip = False
        elif token in own:
            skip = True
        elif token.split("=", 1)[0] not in own and token not in ("-h", "--help"):
            out.append(token)
    return out


def _hook_pretrained(args: argparse.Namespace) -> int:
    """``workbench eval|explain --pretrained NAME|FILE``: trained weights, no run directory."""
    from workbench.commands import pretrained
    from workbench.options import describe_options, options_class, parse_options

    spec, _ = pretrained.resolve(args.pretrained)
    cls = options_class(registry.load_config_class(spec), args.hook)
    if args.help:
        args.hook_parser.print_help()
        print(f"\noptions of `{args.hook} --pretrained` (plugin '{spec.name}'):")
        print("\n".join(describe_options(cls)))
        return 0
    opts = parse_options(cls, args.hook_options, f"`workbench {args.hook} --pretrained`")
    if args.hook == "explain":
        print(pretrained.explain(args.pretrained, args.out, opts))
    else:
        print(pretrained.play(args.pretrained, opts))
    return 0


def _call_hook(args: argparse.Namespace, hook: Callable[[Any, Any, int, Any], str]) -> int:
    """`eval` / `sample`: typed options, the run's plugin at its last checkpoint, one hook."""
    opts = _parse_hook_options(args)
    if opts is None:
        return 0
    from workbench.engine.loop import load_for_inference

    plugin, run, step = load_for_inference(args.run_dir)
    try:
        print(hook(plugin, run, step, opts))
    finally:
        plugin.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.pretrained is not None:
        return _hook_pretrained(args)
    return _call_hook(args, lambda plugin, run, step, opts:
                      f"{run.path} at step {step:,}\n{plugin.eval_report(step, opts)}")


def cmd_sample(args: argparse.Namespace) -> int:
    return _call_hook(args, lambda plugin, run, step, opts: plugin.sample(args.out, opts))


def cmd_explain(args: argparse.Namespace) -> int:
    if args.out is not None:  # a folder of files: an existing file there is refused, not replaced
        check_folder(args.out, "--out", "Give a folder (new or existing) for the attribution "
                     "files, or leave out --out to write into the run's media/.")
    if args.pretrained is not None:
        return _hook_pretrained(args)
    opts = _parse_hook_options(args)
    if opts is None:
        return 0
    from workbench.engine.loop import load_for_inference
    from workbench.logger import default_wandb_mode

    wandb_mode = "disabled" if args.out else args.wandb or default_wandb_mode()
    plugin, run, step = load_for_inference(args.run_dir, wandb_mode=wandb_mode)
    try:
        result = plugin.explain(step, args.out, opts)
    finally:
        plugin.close()
        plugin.ctx.logger.close()
    print(result)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from workbench.studies.comparison import compare

    print(compare(args.run_dirs, group=args.group, metric=args.metric, out=args.out, tags=args.tag,
                  where=args.where, x=args.x, csv_out=args.csv, markdown_out=args.markdown,
                  goal=args.goal, curves_csv=args.curves_csv, rank_by=args.rank_by))
    return 0


COMMANDS = {"list": cmd_list, "describe": cmd_describe, "run": cmd_run, "resume": cmd_resume,
            "eval": cmd_eval, "sample": cmd_sample, "explain": cmd_explain,
            "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    from workbench.engine import console

    restore = console.guard()  # a closed pipe (`| head -1`) stops the output, not the run
    try:
        return _main(argv)
    finally:
        restore()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if hasattr(args, "hook_options"):  # eval / sample / explain: the plugin's own options, typed later
        args.hook_options = extra
        extra = []
    if getattr(args, "pretrained", None) is not None:
        args.hook_options = _pretrained_tokens(sys.argv[1:] if argv is None else argv, args.command)
    # overrides may come after options: `run NAME --name x lr=1e-3`
    stray = [a for a in extra if a.startswith("-") or "=" not in a]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    args.command_line = shlex.join(["workbench", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="workbench: %(levelname)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 0
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `workbench list | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
