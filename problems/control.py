"""Control policies on gymnasium environments as Problems: float, int8 and binary weights.

A solution is the flat parameter vector of a linear or one/two-hidden-layer MLP policy. The loss of
a candidate is minus its mean return over ``episodes`` episodes; every candidate of one ``evaluate``
call plays the same episodes (episode seeds are a pure function of the call's ``seed``), so the
differences between losses come from the policies alone.

Weights (``policy``):
  float   the parameters themselves.
  int8    fake-quantized per tensor and per candidate: ``s = max|w| / 127``, ``w_q = round(w / s) * s``.
  binary  ``sign(w)`` (0 counts as +) times the fixed layer scale ``1 / sqrt(fan_in)``. With
          ``encoding="latent"`` the solution is real (any real-valued solver; the sign is taken in the
          forward pass); with ``encoding="bits"`` it is a binary domain of 0/1 bits, bit b -> 2b - 1.
``quantize_activations`` also quantizes the hidden activations: sign for binary, an int8 grid on
[-1, 1] (``round(127 h) / 127`` of tanh) for int8. Actions are greedy: argmax for discrete spaces,
tanh squashed into the action box for continuous ones.

Observation normalization (``normalize``) uses *fixed* statistics: the mean and std of the
observations of ``norm_episodes`` episodes of uniformly random actions on fixed seeds, computed once
when the problem is built. The statistics are therefore a pure function of the config, nothing
changes during a run, and a checkpoint needs no problem state (unlike the running normalization of
Salimans et al. 2017, which depends on the history of the run).

Rollouts are vectorized: population x episodes environments step together and the policy of every
candidate is applied as one batched matmul per step. Environments with a native vectorized
implementation (``vector_entry_point``: CartPole) run through ``gym.make_vec(...,
vectorization_mode="vector_entry_point")`` with the episode start states of the single-environment
reset of each episode seed written into the batch; Acrobot-v1, which has none, runs through a numpy
batch copy of its dynamics (``control_batch``, bit-exact against gymnasium); the others (Pendulum,
MountainCarContinuous, LunarLander: no vector_entry_point in gymnasium 1.4) keep one environment
per rollout and step only the rollouts still running (a synchronous vector env without the wasted
steps of finished episodes). Start states are those of a single environment reset with the episode
seed in every backend, so the backends give identical returns.

Horizons: ``max_steps`` may shorten *training* episodes (cheaper generations, e.g. LunarLander
hovering until its 1000-step limit); validation, test and animations always run the environment's
own limit, so reported returns are those of the standard task.

Seeds: training episodes use seeds below 2**30 drawn from ``seed``; ``metrics``/``validation_loss``
use the fixed seeds 2**30 + i (``extra_validation_returns`` the ones after those) and
``test_metrics`` the fixed seeds 2**30 + 2**29 + i, so the reported returns never come from
training episodes.

gymnasium is imported only here, never by ``import blackbox``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox.domain import Binary, Real
from blackbox.problem import Problem

VALIDATION_SEED0 = 2**30
TEST_SEED0 = 2**30 + 2**29
NORM_SEED0 = 2**30 + 2**29 + 2**28


@dataclass
class GymConfig:
    env: str = "CartPole-v1"  # gymnasium environment id (CartPole-v1, Acrobot-v1, Pendulum-v1, MountainCarContinuous-v0, LunarLander-v3, ...)
    policy: str = "float"  # weight precision: float, int8 (fake-quantized per tensor) or binary (sign)
    arch: str = "linear"  # linear or mlp
    hidden: int = 16  # hidden units per layer of the mlp
    layers: int = 1  # hidden layers of the mlp
    bias: bool = True  # give every layer a bias (quantized like the weights)
    quantize_activations: bool = False  # also quantize hidden activations (binary: sign, int8: 8-bit grid)
    encoding: str = "latent"  # binary weights as: latent (real values, sign in the forward pass) or bits (0/1 domain)
    episodes: int = 3  # training episodes per candidate and generation (loss = -mean return)
    max_steps: int = 0  # step limit of training episodes; 0 = the environment's own limit (reports always use the env's limit)
    normalize: bool = False  # normalize observations by fixed statistics from a seeded random-action warm-up
    norm_episodes: int = 20  # warm-up episodes for the normalization statistics
    eval_episodes: int = 10  # episodes on fresh validation seeds for metrics and model selection
    test_episodes: int = 100  # episodes on fresh test seeds for the final report
    init_std: float = 0.1  # std of the Gaussian initial parameters (real encodings)
    vectorization: str = "auto"  # auto (vector_entry_point, else numpy batch, else sync), vector_entry_point, numpy or sync


def _gym():
    try:
        import gymnasium
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError("the gym problems need gymnasium: pip install 'blackbox[gym]'") from e
    return gymnasium


class GymPolicy(Problem):
    """A linear or MLP policy on a gymnasium environment; loss = -mean episode return."""

    name = "gym"
    Config = GymConfig
    stochastic = True
    default_budget = {"evals": 10_000, "seconds": 600}  # when the caller gives no budget

    def __init__(self, config: GymConfig | None = None):
        self.config = c = config or self.Config()
        if c.policy not in ("float", "int8", "binary"):
            raise ValueError(f"gym: policy must be float, int8 or binary, got {c.policy!r}")
        if c.arch not in ("linear", "mlp"):
            raise ValueError(f"gym: arch must be linear or mlp, got {c.arch!r}")
        if c.encoding not in ("latent", "bits"):
            raise ValueError(f"gym: encoding must be latent or bits, got {c.encoding!r}")
        if c.encoding == "bits" and c.policy != "binary":
            raise ValueError("gym: encoding=bits needs policy=binary")
        if c.vectorization not in ("auto", "vector_entry_point", "numpy", "sync"):
            raise ValueError(f"gym: vectorization must be auto, vector_entry_point, numpy or sync, got {c.vectorization!r}")
        for key in ("episodes", "eval_episodes", "test_episodes", "hidden", "layers"):
            if getattr(c, key) < 1:
                raise ValueError(f"gym: {key} must be >= 1, got {getattr(c, key)}")
        if c.max_steps < 0 or c.norm_episodes < 0:
            raise ValueError("gym: max_steps and norm_episodes must be >= 0")
        gym = _gym()
        try:
            self.spec = gym.spec(c.env)
        except Exception as e:
            raise ValueError(f"gym: unknown environment {c.env!r}: {e}") from None
        probe = self._make_single()
        obs_space, act_space = probe.observation_space, probe.action_space
        if len(obs_space.shape) != 1:
            raise ValueError(f"gym: {c.env} has observations of shape {obs_space.shape}; only flat vectors are supported")
        self.obs_dim = int(obs_space.shape[0])
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        if self.discrete:
            self.n_actions, self.act_dim = int(act_space.n), int(act_space.n)
            self.act_low = self.act_high = None
        elif isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
            self.act_dim = int(act_space.shape[0])
            self.act_low = np.asarray(act_space.low, dtype=np.float64)
            self.act_high = np.asarray(act_space.high, dtype=np.float64)
        else:
            raise ValueError(f"gym: unsupported action space {act_space}")
        self.eval_max_steps = int(self.spec.max_episode_steps or 1000)  # validation/test: the standard task
        self.max_steps = int(c.max_steps or self.eval_max_steps)  # training episodes
        self._probe = probe
        self.backend = self._backend()

        sizes = [self.obs_dim] + ([c.hidden] * c.layers if c.arch == "mlp" else []) + [self.act_dim]
        layout, start = [], 0
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layout.append((f"W{i}", start, (fan_in, fan_out)))
            start += fan_in * fan_out
            if c.bias:
                layout.append((f"b{i}", start, (fan_out,)))
                start += fan_out
        self.layout, self.dim, self._sizes = layout, start, sizes
        self.domain = Binary() if c.encoding == "bits" else Real()

        self.obs_mean = np.zeros(self.obs_dim)
        self.obs_std = np.ones(self.obs_dim)
        if c.normalize and c.norm_episodes:
            self.obs_mean, self.obs_std = self._warmup_stats()
        self._pools: dict = {}

    # -- environments ---------------------------------------------------------------------------
    def _make_single(self, render_mode=None):
        env = _gym().make(self.config.env, disable_env_checker=True, render_mode=render_mode)
        return env

    def _backend(self) -> str:
        """How rollouts run: vector_entry_point (gymnasium's own batch), numpy (control_batch) or sync."""
        mode, c = self.config.vectorization, self.config
        has_vec = self.spec.vector_entry_point is not None
        has_np = self._numpy_batch(1) is not None
        if mode == "vector_entry_point" and not has_vec:
            raise ValueError(f"gym: {c.env} has no vector_entry_point; use vectorization=auto or sync")
        if mode == "numpy" and not has_np:
            raise ValueError(f"gym: {c.env} has no numpy batch version; use vectorization=auto or sync")
        if mode == "auto":
            return "vector_entry_point" if has_vec else ("numpy" if has_np else "sync")
        return mode

    def _numpy_batch(self, n: int):
        from .control_batch import batch_for
        return batch_for(self._probe, n)

    def _vector_env(self, n: int):
        """A batch of n copies (gymnasium vector env or numpy batch), cached; None when its start
        states cannot be set."""
        backend = self.backend
        key = (backend, n)
        if key not in self._pools:
            if backend == "numpy":
                self._pools[key] = self._numpy_batch(n)
                return self._pools[key]
            gym = _gym()
            env = gym.make_vec(self.config.env, num_envs=n, vectorization_mode="vector_entry_point",
                               max_episode_steps=max(self.max_steps, self.eval_max_steps))
            env.reset(seed=0)
            self._probe.reset(seed=0)
            state = getattr(env.unwrapped, "state", None)
            probe_state = getattr(self._probe.unwrapped, "state", None)
            ok = (isinstance(state, np.ndarray) and isinstance(probe_state, np.ndarray)
                  and state.shape == probe_state.shape + (n,))
            self._pools[key] = env if ok else None
        return self._pools[key]

    def _single_envs(self, n: int) -> list:
        """n unwrapped single environments, cached and grown on demand (reset with seeds each use)."""
        pool = self._pools.setdefault("single", [])
        while len(pool) < n:
            pool.append(self._make_single().unwrapped)
        return pool[:n]

    # -- the policy -----------------------------------------------------------------------------
    def _quantize(self, w: np.ndarray, fan_in: int) -> np.ndarray:
        """w: (pop, ...) one tensor per candidate."""
        c = self.config
        if c.encoding == "bits":
            return (2.0 * w - 1.0) / np.sqrt(fan_in)
        if c.policy == "binary":
            return np.where(w >= 0, 1.0, -1.0) / np.sqrt(fan_in)
        if c.policy == "int8":
            axes = tuple(range(1, w.ndim))
            scale = np.max(np.abs(w), axis=axes, keepdims=True) / 127.0
            scale = np.where(scale > 0, scale, 1.0)
            return np.clip(np.rint(w / scale), -127, 127) * scale
        return w

    def weights(self, population: np.ndarray) -> list:
        """The effective (quantized) tensors of every candidate: [(W (pop, in, out), b (pop, out) | None)]."""
        pop = np.asarray(population, dtype=np.float64)
        pop = pop.reshape(-1, self.dim)
        params = {name: pop[:, s:s + int(np.prod(shape))].reshape((len(pop),) + shape) for name, s, shape in self.layout}
        out = []
        for i, fan_in in enumerate(self._sizes[:-1]):
            W = self._quantize(params[f"W{i}"], fan_in)
            b = self._quantize(params[f"b{i}"], fan_in) if self.config.bias else None
            out.append((W, b))
        return out

    def _hidden_activation(self, z: np.ndarray) -> np.ndarray:
        c = self.config
        if c.quantize_activations and c.policy == "binary":
            return np.where(z >= 0, 1.0, -1.0)
        h = np.tanh(z)
        if c.quantize_activations and c.policy == "int8":
            h = np.rint(h * 127.0) / 127.0
        return h

    def act(self, weights: list, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for observations ``obs`` of shape (pop, episodes, obs_dim): one batched
        matmul per layer. Returns (pop, episodes) ints or (pop, episodes, act_dim) floats."""
        h = (obs - self.obs_mean) / self.obs_std
        for i, (W, b) in enumerate(weights):
            h = np.matmul(h, W)
            if b is not None:
                h = h + b[:, None, :]
            if i < len(weights) - 1:
                h = self._hidden_activation(h)
        if self.discrete:
            return np.argmax(h, axis=-1)
        return self.act_low + (np.tanh(h) + 1.0) * 0.5 * (self.act_high - self.act_low)

    # -- rollouts -------------------------------------------------------------------------------
    def returns(self, population, seeds, max_steps: int | None = None) -> np.ndarray:
        """Episode returns, shape (pop, len(seeds)): candidate i plays episode j on seed seeds[j],
        for at most ``max_steps`` steps (default: the training limit)."""
        max_steps = int(max_steps or self.max_steps)
        pop = np.asarray(population, dtype=np.float64).reshape(-1, self.dim)
        seeds = [int(s) for s in seeds]
        weights = self.weights(pop)
        P, E = len(pop), len(seeds)
        if self.backend != "sync":
            env = self._vector_env(P * E)
            if env is not None:
                return self._rollout_vector(env, weights, seeds, P, max_steps)
        return self._rollout_sync(weights, seeds, P, max_steps)

    def _flat_actions(self, weights, obs, P, E):
        """Actions of the (P * E, obs_dim) batch, row p * E + e = candidate p in episode e."""
        a = self.act(weights, obs.reshape(P, E, -1))
        return a.reshape((P * E,) + (() if self.discrete else (self.act_dim,)))

    def _rollout_vector(self, env, weights, seeds, P, max_steps):
        E = len(seeds)
        starts, obs0 = [], []
        for s in seeds:  # the start state of each episode seed, as a single environment draws it
            o, _ = self._probe.reset(seed=s)
            starts.append(np.array(self._probe.unwrapped.state, dtype=np.float64))
            obs0.append(np.asarray(o, dtype=np.float64))
        if hasattr(env, "reset"):  # a gymnasium vector env: reset, then overwrite the start states
            env.reset(seed=seeds[0])
        env.unwrapped.state = np.tile(np.stack(starts, axis=-1), P)  # column p*E + e = episode e
        obs = np.tile(np.stack(obs0), (P, 1))
        total = np.zeros(P * E)
        alive = np.ones(P * E, dtype=bool)
        for _ in range(max_steps):
            actions = self._flat_actions(weights, obs, P, E)
            obs, reward, terminated, truncated, _ = env.step(actions)
            total += np.where(alive, reward, 0.0)
            alive &= ~(np.asarray(terminated) | np.asarray(truncated))
            if not alive.any():
                break
            obs = np.asarray(obs, dtype=np.float64)
        return total.reshape(P, E)

    def _rollout_sync(self, weights, seeds, P, max_steps):
        E = len(seeds)
        envs = self._single_envs(P * E)
        obs = np.zeros((P * E, self.obs_dim))
        for n, env in enumerate(envs):
            o, _ = env.reset(seed=seeds[n % E])
            obs[n] = o
        total = np.zeros(P * E)
        active = np.arange(P * E)
        for _ in range(max_steps):
            actions = self._flat_actions(weights, obs, P, E)
            still = []
            for n in active:  # only rollouts still running are stepped
                a = int(actions[n]) if self.discrete else actions[n].astype(np.float32)
                o, r, term, trunc, _ = envs[n].step(a)
                total[n] += r
                if term or trunc:
                    continue
                obs[n] = o
                still.append(n)
            active = still
            if not active:
                break
        return total.reshape(P, E)

    # -- seeds ----------------------------------------------------------------------------------
    def episode_seeds(self, seed: int) -> np.ndarray:
        """Training episode seeds of one evaluate call: a pure function of ``seed``, all below 2**30."""
        rng = np.random.default_rng([0x6779, int(seed) & 0xFFFFFFFF])
        return rng.integers(0, VALIDATION_SEED0, size=self.config.episodes)

    def _warmup_stats(self):
        """Mean and std of observations under uniformly random actions on fixed seeds."""
        env = self._make_single()
        rows = []
        for i in range(self.config.norm_episodes):
            o, _ = env.reset(seed=NORM_SEED0 + i)
            env.action_space.seed(NORM_SEED0 + i)
            rows.append(o)
            for _ in range(self.eval_max_steps):
                o, _, term, trunc, _ = env.step(env.action_space.sample())
                rows.append(o)
                if term or trunc:
                    break
        obs = np.asarray(rows, dtype=np.float64)
        std = obs.std(axis=0)
        return obs.mean(axis=0), np.where(std > 1e-6, std, 1.0)

    # -- the Problem contract -------------------------------------------------------------------
    def initial(self, rng):
        if self.config.encoding == "bits":
            return rng.integers(0, 2, size=self.dim).astype(np.int8)
        return rng.normal(0.0, self.config.init_std, size=self.dim)

    def evaluate(self, population, seed=0):
        return -self.returns(population, self.episode_seeds(seed)).mean(axis=1)

    def _fresh_returns(self, x, seed0: int, n: int) -> np.ndarray:
        return self.returns(np.asarray(x)[None, :], seed0 + np.arange(n), self.eval_max_steps)[0]

    def metrics(self, x):
        r = self._fresh_returns(x, VALIDATION_SEED0, self.config.eval_episodes)
        return {"return": float(r.mean()), "return_std": float(r.std()), "episodes": int(r.size)}

    def validation_loss(self, x):
        return -float(self._fresh_returns(x, VALIDATION_SEED0, self.config.eval_episodes).mean())

    def extra_validation_returns(self, population, n: int) -> np.ndarray:
        """Returns (pop, n) on the ``n`` validation seeds after those of ``metrics``
        (2**30 + eval_episodes + i): a second, disjoint validation draw for re-ranking a few
        finalists picked on the first, so the final pick is not the luckiest of many noisy means."""
        first = VALIDATION_SEED0 + self.config.eval_episodes
        if first + n > TEST_SEED0:
            raise ValueError(f"gym: {n} extra validation episodes would reach the test seeds")
        return self.returns(population, first + np.arange(n), self.eval_max_steps)

    def test_metrics(self, x):
        r = self._fresh_returns(x, TEST_SEED0, self.config.test_episodes)
        return {"test_return": float(r.mean()), "test_return_std": float(r.std()),
                "test_return_min": float(r.min()), "test_episodes": int(r.size)}

    def describe(self):
        c = self.config
        net = "linear" if c.arch == "linear" else f"mlp {c.layers}x{c.hidden}"
        return f"gym {c.env} ({net}, {c.policy} weights, dim={self.dim}, {self.domain.kind})"

    # -- watching a policy ----------------------------------------------------------------------
    def animate(self, x, path, seed: int | None = None, max_frames: int = 300, fps: int = 30) -> str:
        """Play one episode of ``x`` (greedy) on a fresh seed and save it as a GIF at ``path``."""
        return save_animation(self, x, path, seed=seed, max_frames=max_frames, fps=fps)

    def save_artifacts(self, x, out_prefix: str) -> list:
        """Files the CLI writes beside a result: a GIF of the policy. Returns the written paths."""
        return [self.animate(x, f"{out_prefix}.gif")]


def save_animation(problem: GymPolicy, x, path, seed: int | None = None, max_frames: int = 300,
                   fps: int = 30, frame_skip: int = 0, max_steps: int | None = None) -> str:
    """Render one greedy episode of policy ``x`` into a GIF (pillow). ``seed`` defaults to the first
    test seed; the episode runs to its end or ``max_steps`` (default: the environment's limit). At
    most ``max_frames`` frames: longer episodes are sampled every ``frame_skip`` steps (0 = chosen so
    the whole episode fits). Returns ``path``."""
    import os

    from PIL import Image

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # off-screen pygame: no display or audio needed
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = problem._make_single(render_mode="rgb_array")
    seed = TEST_SEED0 if seed is None else int(seed)
    weights = problem.weights(np.asarray(x)[None, :])
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    for _ in range(int(max_steps or problem.eval_max_steps)):
        a = problem.act(weights, np.asarray(obs, dtype=np.float64)[None, None, :])[0, 0]
        a = int(a) if problem.discrete else np.asarray(a, dtype=np.float32)
        obs, _, term, trunc, _ = env.step(a)
        frames.append(env.render())
        if term or trunc:
            break
    env.close()
    step = frame_skip or max(1, -(-len(frames) // max_frames))
    images = [Image.fromarray(f).convert("P", palette=Image.ADAPTIVE) for f in frames[::step]]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, int(1000 / fps)), loop=0)
    return str(path)
