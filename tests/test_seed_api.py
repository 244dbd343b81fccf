"""The public signatures of the seed documents (DESIGN §9) and of the issues hold in gymsamp.

Every function, class and method that the seed documents (pyrado.sampling, garage's data types)
list must exist in gymsamp and bind a call written against the seed the same way: the same parameter
names in the same order, positional where the seed's are positional, and the same defaults, but for
the departures DESIGN §9 names. gymsamp may add parameters after the seed's ones, each with a
default, so that every call written for the originals binds the same way. SEED_SIGNATURES holds the
seeds' signature lines with their type annotations left out; ISSUE_SIGNATURES the calls the issues
spell out beyond them.
"""

# ruff: noqa: E501  (the seeds' signature lines stay whole, to be compared with the documents)

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

# (gymsamp name, the seed's parameters: "name", "name = default", "*", "*args", "**kwargs")
SEED_SIGNATURES: list[tuple[str, str]] = [
    (
        "gymsamp.stats.bootstrap_ci",
        "data, stat_fcn, num_reps, alpha, ci_sides, bias_correction = False, studentized = False, seed = None",
    ),
    (
        "gymsamp.sampling.CVaRSampler",
        "wrapped_sampler, epsilon, gamma = 1.0, *, min_rollouts = None, min_steps = None",
    ),
    ("gymsamp.sampling.CVaRSampler.reinit", "env = None, policy = None"),
    ("gymsamp.sampling.CVaRSampler.sample", ""),
    ("gymsamp.sampling.CVaRSampler.set_min_count", "min_rollouts = None, min_steps = None"),
    ("gymsamp.sampling.select_cvar", "rollouts, epsilon, gamma = 1.0"),
    ("gymsamp.data.cat_to_format", "data, data_format"),
    ("gymsamp.data.new_tuple", "nt_type, values"),
    ("gymsamp.data.stack_to_format", "data, data_format"),
    ("gymsamp.data.to_format", "data, data_format, data_type = None"),
    ("gymsamp.stats.sample_from_hyper_sphere_surface", "num_dim, method"),
    (
        "gymsamp.sampling.eval_domain_params",
        "pool, env, policy, params, init_state = None, seed = NA",
    ),
    (
        "gymsamp.sampling.eval_domain_params_with_segmentwise_reset",
        "pool, env_sim, policy, segments_real_all, domain_params_ml_all, stop_on_done, use_rec",
    ),
    ("gymsamp.sampling.eval_nominal_domain", "pool, env, policy, init_states"),
    ("gymsamp.sampling.eval_randomized_domain", "pool, env, randomizer, policy, init_states"),
    (
        "gymsamp.sampling.ParallelRolloutSampler",
        "env, policy, num_workers, *, min_rollouts = None, min_steps = None, show_progress_bar = True, seed = NA",
    ),
    ("gymsamp.sampling.ParallelRolloutSampler.reinit", "env = None, policy = None"),
    (
        "gymsamp.sampling.ParallelRolloutSampler.sample",
        "init_states = None, domain_params = None, eval = False",
    ),
    (
        "gymsamp.sampling.ParameterExplorationSampler",
        "env, policy, num_init_states_per_domain, num_domains, num_workers, seed = None",
    ),
    ("gymsamp.sampling.ParameterExplorationSampler.reinit", "env = None, policy = None"),
    ("gymsamp.sampling.ParameterExplorationSampler.sample", "param_sets, init_states = None"),
    ("gymsamp.sampling.ParameterSample", "params, rollouts"),
    ("gymsamp.sampling.ParameterSamplingResult", "samples"),
    ("gymsamp.sampling.ParameterSamplingResult.mean_returns", ""),
    ("gymsamp.sampling.ParameterSamplingResult.num_rollouts", ""),
    ("gymsamp.sampling.ParameterSamplingResult.parameters", ""),
    ("gymsamp.sampling.ParameterSamplingResult.rollouts", ""),
    ("gymsamp.sampling.after_rollout_query", "env, policy, rollout"),
    (
        "gymsamp.sampling.rollout",
        "env, policy, eval = False, max_steps = None, reset_kwargs = None, render_mode = RenderMode(text=False, video=False, render=False), render_step = 1, no_reset = False, no_close = False, record_dts = False, stop_on_done = True, seed = None, sub_seed = None, sub_sub_seed = None",
    ),
    ("gymsamp.sampling.SamplerBase", "*, min_rollouts = None, min_steps = None"),
    ("gymsamp.sampling.SamplerBase.reinit", "env = None, policy = None"),
    ("gymsamp.sampling.SamplerBase.sample", ""),
    ("gymsamp.sampling.SamplerBase.set_min_count", "min_rollouts = None, min_steps = None"),
    ("gymsamp.sampling.SamplerPool", "num_threads"),
    ("gymsamp.sampling.SamplerPool.invoke_all", "func, *args, **kwargs"),
    ("gymsamp.sampling.SamplerPool.invoke_all_map", "func, arglist"),
    (
        "gymsamp.sampling.SamplerPool.run_collect",
        "n, func, *args, collect_progressbar = None, min_runs = None, **kwargs",
    ),
    ("gymsamp.sampling.SamplerPool.run_map", "func, arglist, progressbar = None"),
    ("gymsamp.sampling.SamplerPool.set_seed", "seed"),
    ("gymsamp.sampling.SamplerPool.stop", ""),
    (
        "gymsamp.sbi.AllStepsEmbedding",
        "spec, dim_data, len_rollouts, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.AllStepsEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.BayesSimEmbedding",
        "spec, dim_data, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.BayesSimEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.DeltaStepsEmbedding",
        "spec, dim_data, len_rollouts, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.DeltaStepsEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.DynamicTimeWarpingEmbedding",
        "spec, dim_data, step_pattern = None, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.DynamicTimeWarpingEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.Embedding",
        "spec, dim_data, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.Embedding.forward", "data"),
    ("gymsamp.sbi.Embedding.forward_one_batch", "data_batch"),
    ("gymsamp.sbi.Embedding.pack", "data"),
    ("gymsamp.sbi.Embedding.summary_statistic", "data"),
    ("gymsamp.sbi.Embedding.unpack", "data, dim_data_orig"),
    (
        "gymsamp.sbi.LastStepEmbedding",
        "spec, dim_data, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False",
    ),
    ("gymsamp.sbi.LastStepEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.RNNEmbedding",
        "spec, dim_data, hidden_size, num_recurrent_layers, output_size, recurrent_network_type = <class 'torch.nn.modules.rnn.RNN'>, only_last_output = False, len_rollouts = None, output_nonlin = None, dropout = 0.0, init_param_kwargs = None, downsampling_factor = 1, state_mask_labels = None, act_mask_labels = None, use_cuda = False, **recurrent_net_kwargs",
    ),
    ("gymsamp.sbi.RNNEmbedding.init_param", "init_values = None, **kwargs"),
    ("gymsamp.sbi.RNNEmbedding.summary_statistic", "data"),
    (
        "gymsamp.sbi.RealRolloutSamplerForSBI",
        "env, policy, embedding, num_segments = None, len_segments = None, stop_on_done = True",
    ),
    (
        "gymsamp.sbi.RecRolloutSamplerForSBI",
        "rollouts_dir, embedding, num_segments = None, len_segments = None, rand_init_rollout = True",
    ),
    (
        "gymsamp.sbi.RolloutSamplerForSBI",
        "env, policy, embedding, num_segments = None, len_segments = None, stop_on_done = True",
    ),
    ("gymsamp.sbi.RolloutSamplerForSBI.get_dim_data", "spec"),
    (
        "gymsamp.sbi.SimRolloutSamplerForSBI",
        "env, policy, dp_mapping, embedding, num_segments = None, len_segments = None, stop_on_done = True, rollouts_real = None, use_rec_act = True",
    ),
    (
        "gymsamp.sbi.SimRolloutSamplerForSBI.check_domain_params",
        "rollouts, domain_param_value, domain_param_names",
    ),
    ("gymsamp.stats.sequence", "x_init, iterations, iterator_function, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_add_init", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_const", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_nlog2", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_plus_one", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_rec_double", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_rec_sqrt", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.stats.sequence_sqrt", "x_init, iter, dtype = <class 'int'>"),
    ("gymsamp.data.DictIndexProxy", "obj, index, path = None"),
    ("gymsamp.data.Step", "rollout, index"),
    (
        "gymsamp.data.StepSequence",
        "*, complete = True, rollout_info = None, data_format = None, done = None, continuous = True, rollout_bounds = None, rewards, observations, actions, **data",
    ),
    (
        "gymsamp.data.StepSequence.add_data",
        "name, value = None, item_shape = None, with_after_last = False",
    ),
    ("gymsamp.data.StepSequence.concat", "parts, data_format = None, truncate_last = True"),
    ("gymsamp.data.StepSequence.convert", "data_format, data_type = None"),
    ("gymsamp.data.StepSequence.discounted_return", "gamma"),
    ("gymsamp.data.StepSequence.from_pandas", "df, env_spec, continuous = True, task = None"),
    ("gymsamp.data.StepSequence.get_data_values", "name, truncate_last = False"),
    ("gymsamp.data.StepSequence.get_rollout", "index"),
    ("gymsamp.data.StepSequence.iterate_rollouts", ""),
    ("gymsamp.data.StepSequence.numpy", "data_type = None"),
    ("gymsamp.data.StepSequence.pad", "rollout, len_to_pad_to, pad_value = 0"),
    (
        "gymsamp.data.StepSequence.process_data",
        "rollout, fcn, fcn_arg_name, fcn_arg_types = <class 'numpy.ndarray'>, include_fields = None, exclude_fields = None, **process_fcn_kwargs",
    ),
    ("gymsamp.data.StepSequence.sample_w_next", "batch_size"),
    ("gymsamp.data.StepSequence.split_ordered_batches", "batch_size = None, num_batches = None"),
    ("gymsamp.data.StepSequence.split_shuffled_batches", "batch_size, complete_rollouts = False"),
    ("gymsamp.data.StepSequence.torch", "data_type = None"),
    ("gymsamp.data.StepSequence.undiscounted_return", ""),
    ("gymsamp.data.check_act_equal", "rollout_1, rollout_2, check_applied = False"),
    ("gymsamp.data.discounted_reverse_cumsum", "data, gamma"),
    ("gymsamp.data.discounted_value", "rollout, gamma"),
    ("gymsamp.data.discounted_values", "rollouts, gamma, data_format = 'torch'"),
    ("gymsamp.data.gae_returns", "rollout, gamma = 0.99, lamb = 0.95"),
    ("gymsamp.data.gen_ordered_batch_idcs", "batch_size, data_size, sorted = True"),
    ("gymsamp.data.gen_ordered_batches", "inp, batch_size"),
    ("gymsamp.data.gen_shuffled_batch_idcs", "batch_size, data_size"),
    ("gymsamp.data.shuffled_ordered_batches", "inp, batch_size"),
    # garage._dtypes
    ("gymsamp.data.EpisodeBatch.concatenate", "*batches"),
    ("gymsamp.data.EpisodeBatch.split", ""),
    ("gymsamp.data.EpisodeBatch.to_list", ""),
    ("gymsamp.data.EpisodeBatch.from_list", "env_spec, paths"),
    ("gymsamp.data.StepType.get_step_type", "step_cnt, max_episode_length, done"),
    ("gymsamp.data.TimeStep.from_env_step", "env_step, last_observation, agent_info"),
    ("gymsamp.data.InOutSpec", "input_space, output_space"),
    ("gymsamp.data.TimeStepBatch.concatenate", "*batches"),
    ("gymsamp.data.TimeStepBatch.split", ""),
    ("gymsamp.data.TimeStepBatch.to_time_step_list", ""),
    ("gymsamp.data.TimeStepBatch.from_time_step_list", "env_spec, ts_samples"),
    ("gymsamp.data.TimeStepBatch.from_episode_batch", "batch"),
]


# The signatures the issues name beyond the seeds ("..." there: more options may follow, with defaults).
ISSUE_SIGNATURES: list[tuple[str, str]] = [
    ("gymsamp.envs.UniformDomainParam", "name, mean, halfspan"),
    ("gymsamp.envs.NormalDomainParam", "name, mean, std"),
    ("gymsamp.envs.MultivariateNormalDomainParam", "name, mean, cov"),
    ("gymsamp.envs.BernoulliDomainParam", "name, val_0, val_1, prob_1"),
    ("gymsamp.envs.DomainParam.adapt", "field, value"),
    ("gymsamp.envs.DomainParam.sample", "num_samples, rng"),
    ("gymsamp.envs.DomainRandomizer", "*domain_params"),
    ("gymsamp.envs.DomainRandomizer.randomize", "num_samples, rng"),
    ("gymsamp.envs.DomainRandomizer.get_params", "num_samples = -1, fmt = 'list', dtype = 'numpy'"),
    ("gymsamp.envs.DomainRandomizer.rescale_distr_param", "param, scale"),
    ("gymsamp.envs.DomainRandomizer.adapt_one_distr_param", "name, field, value"),
    ("gymsamp.envs.DomainParamWrapper", "env"),
    ("gymsamp.envs.DomainRandWrapper", "env, randomizer"),
    ("gymsamp.envs.InitStateWrapper", "env"),
    ("gymsamp.data.EnvSpec", "observation_space, action_space, max_episode_length = None"),
    ("gymsamp.data.EnvSpec.from_env", "env"),
    ("gymsamp.data.EpisodeBatch.from_step_sequences", "rollouts, env_spec"),
    ("gymsamp.data.EpisodeBatch.to_step_sequences", ""),
    ("gymsamp.data.StepSequence.to_pandas", ""),
    ("gymsamp.data.save_rollouts", "path, rollouts"),
    ("gymsamp.data.load_rollouts", "path"),
    ("gymsamp.stats.sample_from_hyper_sphere_surface", "num_dim, method, rng = None"),
    ("gymsamp.sampling.derive_seed", "seed, sub_seed = 0, sub_sub_seed = 0"),
    ("gymsamp.policies.as_policy", "obj, spec"),
    ("gymsamp.policies.GaussianActionNoise", "policy, std"),
    (
        "gymsamp.sampling.ParallelRolloutSampler",
        "env, policy, num_workers, *, min_rollouts = None, min_steps = None, show_progress_bar = True, seed = None, vectorization = 'auto'",
    ),
]

# DESIGN §9: "global-seed defaults become seed=None" (pyrado's NA sentinel meant "seed globally").
DEPARTURES: dict[tuple[str, str], str] = {
    ("gymsamp.sampling.eval_domain_params", "seed"): "None",
    ("gymsamp.sampling.ParallelRolloutSampler", "seed"): "None",
}

_REQUIRED = object()


def _resolve(path: str) -> Any:
    """The object named by a dotted path: a module's attribute, then attributes of that."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise LookupError(path)


def _seed_parameters(text: str) -> list[tuple[str, Any, bool]]:
    """``(name, default or _REQUIRED, keyword_only)`` of a seed signature line; ``*args`` and
    ``**kwargs`` keep their stars."""
    parameters: list[tuple[str, Any, bool]] = []
    keyword_only = False
    depth = 0  # split at top-level commas: defaults hold commas inside parentheses
    items: list[str] = []
    current = ""
    for char in text:
        if char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current.strip())
    for item in items:
        if item == "*":
            keyword_only = True
            continue
        name, _, default = (part.strip() for part in item.partition("="))
        parameters.append((name, default if default else _REQUIRED, keyword_only))
        if name.startswith("*") and not name.startswith("**"):
            keyword_only = True  # everything after *args is keyword-only
    return parameters


@pytest.mark.parametrize(("path", "seed"), SEED_SIGNATURES, ids=[p for p, _ in SEED_SIGNATURES])
def test_seed_signature_binds_the_same_way(path: str, seed: str) -> None:
    _check_binds_the_same_way(path, seed, defaults_may_be_added=False)


@pytest.mark.parametrize(("path", "issue"), ISSUE_SIGNATURES, ids=[p for p, _ in ISSUE_SIGNATURES])
def test_issue_signature_binds_the_same_way(path: str, issue: str) -> None:
    # The issues write the required arguments of a call; a default gymsamp adds binds alike.
    _check_binds_the_same_way(path, issue, defaults_may_be_added=True)


def _check_binds_the_same_way(path: str, seed: str, *, defaults_may_be_added: bool) -> None:
    signature = inspect.signature(_resolve(path))
    ours = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    by_name = {p.name: p for p in ours}
    expected = _seed_parameters(seed)

    positional = [p.name for p in ours if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    seed_positional = [n for n, _, kw in expected if not kw and not n.startswith("*")]
    assert positional[: len(seed_positional)] == seed_positional, path

    for name, default, keyword_only in expected:
        if name.startswith("**"):
            assert any(p.kind is p.VAR_KEYWORD for p in ours), f"{path} takes no {name}"
            continue
        if name.startswith("*"):
            assert any(p.kind is p.VAR_POSITIONAL for p in ours), f"{path} takes no {name}"
            continue
        assert name in by_name, f"{path} has no parameter {name!r}"
        ours_p = by_name[name]
        if keyword_only:
            assert ours_p.kind in (ours_p.KEYWORD_ONLY, ours_p.POSITIONAL_OR_KEYWORD), (path, name)
        wanted = DEPARTURES.get((path, name), default)
        if wanted is _REQUIRED:
            assert defaults_may_be_added or ours_p.default is ours_p.empty, f"{path}: {name}"
        else:
            assert ours_p.default is not ours_p.empty, f"{path}: {name} has no default"
            assert repr(ours_p.default) == wanted, (path, name, ours_p.default)

    seed_names = {n.lstrip("*") for n, _, _ in expected}
    for p in ours:  # an added parameter must not change how a seed call binds
        if p.name in seed_names or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        assert p.default is not p.empty, f"{path}: added parameter {p.name} has no default"


def test_the_seed_parser_reads_what_the_table_holds() -> None:
    assert _seed_parameters("a, b = (1, 2), *args, c = None, **kw") == [
        ("a", _REQUIRED, False),
        ("b", "(1, 2)", False),
        ("*args", _REQUIRED, False),
        ("c", "None", True),
        ("**kw", _REQUIRED, True),
    ]
    assert _seed_parameters("*, x = 1") == [("x", "1", True)]
