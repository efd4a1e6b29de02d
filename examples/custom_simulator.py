"""Wrap your own simulator three ways and solve it with two solvers.

The "simulator" is a PID controller steering a damped mass to a set point (200 Euler steps); the
three controller gains (kp, ki, kd) are the solution and the loss is the integrated squared error
plus a penalty on overshoot. It stands for anything you can run but not differentiate.

The same simulator is wrapped as
  1. a Python function of one solution      blackbox.problem_from_function(f, dim)
  2. a vectorized function of a population  blackbox.problem_from_vectorized(g, dim)
  3. an external program printing the loss  blackbox.problem_from_command([...,"{file}"], dim)
and each is solved with PolyStep and with ES from the same starting gains (x0).

    python examples/custom_simulator.py            # full budget
    python examples/custom_simulator.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

Expected (full run on the 2-core development machine: 43 s when it was quiet, 100 s while shared
with other jobs; most of it the external program, one Python process per evaluation): start loss
5.152 at gains (1, 0, 0); the function and vectorized wrappers give identical runs (same seed,
same losses) ending at 0.440 (PolyStep) and 0.219 (ES, which pushes kp to the bound 20); the
command wrapper, with 400 evaluations, ends near 0.45 for both. The small run takes 4 s (quiet)
and ends at 0.485 / 0.497 (function, vectorized) and 0.970 / 1.177 (command, 32-35 evaluations).
"""
import sys
import textwrap

import numpy as np

from _example import example_args

import blackbox

args = example_args(__doc__)
STEPS, DT = 200, 0.05
X0 = [1.0, 0.0, 0.0]  # the gains we start from: a pure, weak proportional controller
BOUNDS = blackbox.Real(0.0, 20.0)  # gains are kept in [0, 20]


# -- the simulator, one solution at a time -------------------------------------------------------
def simulate(gains):
    kp, ki, kd = gains
    pos, vel, integral, prev_err, cost, peak = 0.0, 0.0, 0.0, 1.0, 0.0, 0.0
    for _ in range(STEPS):
        err = 1.0 - pos
        integral += err * DT
        force = kp * err + ki * integral + kd * (err - prev_err) / DT
        prev_err = err
        vel += (force - 0.5 * vel) * DT  # unit mass, friction 0.5
        pos += vel * DT
        cost += err * err * DT
        peak = max(peak, pos)
    return cost + 10.0 * max(0.0, peak - 1.05)  # penalize more than 5 % overshoot


# -- the same simulator over a whole population at once (pop x 3 -> pop) ------------------------
def simulate_population(G):
    kp, ki, kd = G[:, 0], G[:, 1], G[:, 2]
    pos, vel, integral = np.zeros(len(G)), np.zeros(len(G)), np.zeros(len(G))
    prev_err, cost, peak = np.ones(len(G)), np.zeros(len(G)), np.zeros(len(G))
    for _ in range(STEPS):
        err = 1.0 - pos
        integral += err * DT
        force = kp * err + ki * integral + kd * (err - prev_err) / DT
        prev_err = err
        vel += (force - 0.5 * vel) * DT
        pos += vel * DT
        cost += err * err * DT
        peak = np.maximum(peak, pos)
    return cost + 10.0 * np.maximum(0.0, peak - 1.05)


# -- the same simulator as an external program: reads the gains from a file, prints the loss -----
program = args.out / "pid_sim.py"
program.write_text(textwrap.dedent(f"""\
    import sys
    kp, ki, kd = (float(v) for v in open(sys.argv[1]))
    pos = vel = integral = cost = peak = 0.0
    prev_err = 1.0
    for _ in range({STEPS}):
        err = 1.0 - pos
        integral += err * {DT}
        force = kp * err + ki * integral + kd * (err - prev_err) / {DT}
        prev_err = err
        vel += (force - 0.5 * vel) * {DT}
        pos += vel * {DT}
        cost += err * err * {DT}
        peak = max(peak, pos)
    print("loss", cost + 10.0 * max(0.0, peak - 1.05))
    """))

problems = {
    "function": blackbox.problem_from_function(simulate, dim=3, domain=BOUNDS, x0=X0),
    "vectorized": blackbox.problem_from_vectorized(simulate_population, dim=3, domain=BOUNDS, x0=X0),
    # {file} is replaced by a temporary file with one number per line; the last number printed is the
    # loss; workers=2 runs two processes at a time
    "command": blackbox.problem_from_command([sys.executable, str(program), "{file}"], dim=3,
                                             domain=BOUNDS, x0=X0, workers=2),
}
# evaluations per run: in-process simulators are cheap, a process per evaluation is not
budget = {"function": 300, "vectorized": 300, "command": 32} if args.small else \
         {"function": 3000, "vectorized": 3000, "command": 400}
solvers = {
    "polystep": {"particle_size": 3, "sigma0": 1.0, "horizon": 100},
    "es": {"sigma0": 0.5, "sigma_end": 0.5, "lr": 0.2},
}

start = simulate(X0)
print(f"start loss {start:.3f} at gains {X0}   (outputs in {args.out})")
for wrap_name, problem in problems.items():
    for solver, config in solvers.items():
        r = blackbox.solve(problem, solver, config, evals=budget[wrap_name], seed=0)
        gains = ", ".join(f"{g:.2f}" for g in r.best_x)
        print(f"{wrap_name:10s} {solver:8s} best loss {r.best_loss:.3f}  gains ({gains})  "
              f"{r.evals} evals  {r.wall_time:.1f} s  failures {r.failures}")
