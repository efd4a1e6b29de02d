"""The report of a comparison: summary.md, pivot tables and plots from the finished cells' JSONs."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from ..fileio import atomic_write_text
from .grid import Cell, _slug


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# -- the report -----------------------------------------------------------------------------------
def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    import numpy as np
    a = np.asarray(values, np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def fmt_mean_std(values) -> str:
    """"mean ± std": 4 and 2 significant digits; whole numbers from 10,000 up with separators; a
    single value alone."""
    m, s = mean_std(values)
    return f"{_sig(m, 4)} ± {_sig(s, 2)}" if len(values) > 1 else _sig(m, 4)


def _sig(v: float, digits: int) -> str:
    return f"{v:,.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:.{digits}g}"


@dataclass
class Report:
    cells: list  # Cell, in grid order
    runs: dict  # stem -> run JSON (finished, skipped or errored)
    interrupted: bool = False  # the grid was stopped (Ctrl-C) before every cell finished

    @classmethod
    def load(cls, out: str, cells: list | None = None) -> "Report":
        if cells is None:
            with open(os.path.join(out, "grid.json")) as fh:
                cells = [Cell(**c) for c in json.load(fh)["cells"]]
        runs = {}
        for c in cells:
            p = os.path.join(out, "runs", c.stem + ".json")
            if os.path.exists(p):
                with open(p) as fh:
                    runs[c.stem] = json.load(fh)
        return cls(cells, runs)

    def groups(self) -> dict:
        """problem label -> solver label -> list of run JSONs (all statuses)."""
        g: dict = {}
        for c in self.cells:
            g.setdefault(c.problem_label, {}).setdefault(c.solver_label, [])
            if c.stem in self.runs:
                g[c.problem_label][c.solver_label].append(self.runs[c.stem])
        return g

    def markdown(self) -> str:
        lines = ["# Comparison", "",
                 f"{len(self.cells)} cells, {sum(r.get('status') == 'done' for r in self.runs.values())} finished. "
                 "Entries are mean ± sample std over the finished seeds. Stochastic problems report the "
                 "model selected on the validation split; test metrics are of that model only. "
                 f"Machine: {os.cpu_count()} cores, one single-threaded process per cell.", ""]
        for plabel, by_solver in self.groups().items():
            cell = next(c for c in self.cells if c.problem_label == plabel)
            done = [r for rs in by_solver.values() for r in rs if r.get("status") == "done"]
            stochastic = any(r.get("stochastic") for r in done)
            cols = [] if stochastic else [("best loss", lambda r: r["best_loss"])]
            for section in ("metrics", "test_metrics"):
                keys = []
                for r in done:
                    keys += [k for k, v in r[section].items() if _is_num(v) and k not in keys]
                cols += [(k, (lambda k, s: lambda r: r[s].get(k))(k, section)) for k in keys]
            budget = ", ".join(f"{k} {v:g}" for k, v in (("evals", cell.evals), ("seconds", cell.seconds),
                                                        ("target", cell.target)) if v is not None)
            lines += [f"## {plabel}", "", f"Budget per cell: {budget or 'problem default'}."
                      + (" Stochastic: reported model selected by validation loss." if stochastic else ""), ""]
            header = ["solver", "seeds"] + [c[0] for c in cols] + ["evals", "wall s", "stopped"]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for slabel, rs in by_solver.items():
                ok = [r for r in rs if r.get("status") == "done"]
                other = sorted({r.get("status") for r in rs} - {"done"})
                if not ok:
                    note = ", ".join(other) or "not run"
                    lines.append(f"| {slabel} | 0 | " + " | ".join(["—"] * (len(cols) + 2)) + f" | {note} |")
                    continue
                row = [slabel, str(len(ok))]
                for _, get in cols:
                    vals = [get(r) for r in ok]
                    vals = [v for v in vals if _is_num(v)]
                    row.append(fmt_mean_std(vals) if vals else "—")
                row.append(f"{mean_std([r['evals'] for r in ok])[0]:,.0f}")
                row.append(fmt_mean_std([r["wall_time"] for r in ok]))
                stops = sorted({r["stopped"] for r in ok}) + other
                row.append(",".join(stops))
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        errors = [r for r in self.runs.values() if r.get("status") == "error"]
        if errors:
            lines += ["## Errors", ""] + [f"- {r['cell']['problem_label']} · {r['cell']['solver_label']} · "
                                          f"seed {r['seed']}: {r['error']}" for r in errors] + [""]
        return "\n".join(lines)

    def pivot(self, metric: str) -> str:
        """One markdown table: problems as rows, solvers as columns, ``metric`` (best_loss,
        wall_time, evals, or a key of metrics/test_metrics) as mean ± std over finished seeds;
        the scaling view (e.g. MAX-SAT by number of variables)."""
        groups = self.groups()
        solvers = list(dict.fromkeys(c.solver_label for c in self.cells))
        lines = [f"### {metric}", "", "| problem | " + " | ".join(solvers) + " |", "|" + "---|" * (len(solvers) + 1)]
        for plabel, by_solver in groups.items():
            row = [plabel]
            for slabel in solvers:
                rs = by_solver.get(slabel, [])
                vals = [_value(r, metric) for r in rs if r.get("status") == "done"]
                vals = [v for v in vals if _is_num(v)]
                status = sorted({r.get("status") for r in rs} - {"done"})
                row.append(fmt_mean_std(vals) + f" (n={len(vals)})" if vals else (",".join(status) or "—"))
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n"

    def write(self, out: str, pivots=()) -> list[str]:
        paths = [os.path.join(out, "summary.md")]
        atomic_write_text(paths[0], self.markdown())
        if pivots:
            paths.append(os.path.join(out, "pivot.md"))
            atomic_write_text(paths[1], "\n".join(self.pivot(m) for m in pivots))
        return paths + self.plot(os.path.join(out, "plots"))

    def plot(self, plot_dir: str) -> list[str]:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        os.makedirs(plot_dir, exist_ok=True)
        paths = []
        for plabel, by_solver in self.groups().items():
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
            drawn = False
            positive = True
            for slabel, rs in by_solver.items():
                curves = [curve(r) for r in rs if r.get("status") == "done"]
                curves = [c for c in curves if len(c[0])]
                if not curves:
                    continue
                for ax, xi in ((axes[0], 0), (axes[1], 1)):
                    xs = [c[xi] for c in curves]
                    hi = max(float(x[-1]) for x in xs)
                    lo = max(float(x[0]) for x in xs)  # from where every seed has a value
                    grid = np.linspace(lo, hi, 200) if hi > lo else np.array([lo])
                    ys = np.array([step_at(x, c[2], grid) for x, c in zip(xs, curves)])
                    med, lo_y, hi_y = np.median(ys, 0), ys.min(0), ys.max(0)
                    line, = ax.plot(grid, med, label=f"{slabel} (n={len(curves)})")
                    ax.fill_between(grid, lo_y, hi_y, color=line.get_color(), alpha=0.2, linewidth=0)
                    positive &= bool(np.all(np.asarray(ys)[np.isfinite(ys)] > 0))
                drawn = True
            if not drawn:
                plt.close(fig)
                continue
            stochastic = any(r.get("stochastic") for rs in by_solver.values() for r in rs)
            ylabel = "validation loss (best so far)" if stochastic else "best loss"
            for ax, xl in ((axes[0], "evaluations"), (axes[1], "seconds")):
                ax.set_xlabel(xl)
                ax.set_ylabel(ylabel)
                if positive:
                    ax.set_yscale("log")
                ax.grid(alpha=0.3)
            handles, labels = axes[0].get_legend_handles_labels()
            ncol = min(4, len(labels))
            rows = -(-len(labels) // ncol)
            fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
            fig.suptitle(f"{plabel}: median over seeds, band = min..max")
            fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))
            p = os.path.join(plot_dir, _slug(plabel) + ".png")
            fig.savefig(p, dpi=110)
            plt.close(fig)
            paths.append(p)
        return paths


def _value(run: dict, metric: str):
    if metric in ("best_loss", "wall_time", "evals", "generations"):
        return run.get(metric)
    return run.get("test_metrics", {}).get(metric, run.get("metrics", {}).get(metric))


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def curve(run: dict):
    """(evals, seconds, reported loss) arrays of one finished run. Deterministic problems: the best
    loss from the time trace; stochastic ones: the best validation loss so far from the history
    (the model the driver would report), timed by interpolating the trace."""
    import numpy as np
    tr = [p for p in run.get("trace", []) if p[2] is not None]
    te = np.array([p[0] for p in tr], np.float64)
    tt = np.array([p[1] for p in tr], np.float64)
    if not run.get("stochastic"):
        return te, tt, np.array([p[2] for p in tr], np.float64)
    h = [e for e in run.get("history", []) if e.get("validation_loss") is not None]
    ev = np.array([e["evals"] for e in h], np.float64)
    val = np.minimum.accumulate(np.array([e["validation_loss"] for e in h], np.float64)) if h else np.zeros(0)
    secs = np.interp(ev, te, tt) if te.size else np.full(ev.size, np.nan)
    return ev, secs, val


def step_at(x, y, grid):
    """Value of the step function (x_i, y_i) at each grid point: y of the last x_i <= g, NaN before."""
    import numpy as np
    x = np.asarray(x, np.float64)
    idx = np.searchsorted(x, grid, side="right") - 1
    out = np.asarray(y, np.float64)[np.clip(idx, 0, None)]
    return np.where(idx >= 0, out, np.nan)

