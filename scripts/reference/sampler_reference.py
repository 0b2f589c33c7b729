#!/usr/bin/env python3
"""Reference values for the parity tests of the `diffmac-sampler` crate.

Pinned versions (the fixture records the versions that actually wrote it):
    python 3.11, numpy==2.4.6, torch==2.15.0, diffusers==0.42.1

Two independent references are written:

* "improved_diffusion": a float64 numpy re-implementation of the formulas of
  openai/improved-diffusion (`space_timesteps`, `SpacedDiffusion`'s respaced betas,
  `GaussianDiffusion`'s posterior coefficients, `p_sample` with fixed-small / fixed-large
  variance, `ddim_sample`, `q_sample`), extended with the v-prediction conversion that
  improved-diffusion lacks.
* "diffusers": diffusers' own `DDPMScheduler` / `DDIMScheduler` / `set_timesteps` for the
  options they cover. Their schedules are rebuilt in float64 (same formula, float64 dtype) so
  the comparison can be held to 1e-12; one case runs them unmodified in float32.

Run (from the repository root, in a throwaway virtual environment):
    python3 -m venv /tmp/sampler-ref
    /tmp/sampler-ref/bin/pip install numpy==2.4.6 torch==2.15.0 diffusers==0.42.1
    /tmp/sampler-ref/bin/python scripts/reference/sampler_reference.py

It writes crates/diffmac-sampler/tests/fixtures/sampler_reference.json (about 0.55 MB).
"""

import argparse
import base64
import json
import math
import platform
import sys
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler

PINNED = {"numpy": "2.4.6", "torch": "2.15.0", "diffusers": "0.42.1"}
T = 1000
SD_BETA_START = 0.00085
SD_BETA_END = 0.012
SHAPE = (2, 3, 4, 4)

# ---------------------------------------------------------------------------------------------
# improved-diffusion formulas, float64 numpy
# ---------------------------------------------------------------------------------------------


def id_space_timesteps(num_timesteps, section_counts):
    """improved_diffusion.respace.space_timesteps, returned sorted ascending."""
    if section_counts.startswith("ddim"):
        desired = int(section_counts[len("ddim"):])
        for stride in range(1, num_timesteps):
            if len(range(0, num_timesteps, stride)) == desired:
                return sorted(set(range(0, num_timesteps, stride)))
        raise ValueError("no integer stride")
    counts = [int(x) for x in section_counts.split(",")]
    size_per = num_timesteps // len(counts)
    extra = num_timesteps % len(counts)
    start = 0
    steps = []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError("section too small")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.append(start + round(cur))  # Python's round: ties to even
            cur += stride
        start += size
    return sorted(set(steps))


def id_named_betas(name, n):
    """improved_diffusion.gaussian_diffusion.get_named_beta_schedule."""
    if name == "linear":
        scale = 1000 / n
        return np.linspace(scale * 0.0001, scale * 0.02, n, dtype=np.float64)
    if name == "cosine":
        f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        return np.array([min(1 - f((i + 1) / n) / f(i / n), 0.999) for i in range(n)])
    raise ValueError(name)


def scaled_linear_betas_f64(n, start=SD_BETA_START, end=SD_BETA_END):
    """diffusers' `scaled_linear` formula, evaluated in float64."""
    return np.linspace(start**0.5, end**0.5, n, dtype=np.float64) ** 2


class SpacedGaussian:
    """SpacedDiffusion + GaussianDiffusion coefficient tables (float64)."""

    def __init__(self, base_betas, kept):
        base_ac = np.cumprod(1.0 - base_betas)
        last = 1.0
        betas = []
        for i, ac in enumerate(base_ac):
            if i in kept:
                betas.append(1 - ac / last)
                last = ac
        self.timestep_map = sorted(kept)
        b = np.array(betas, dtype=np.float64)
        self.betas = b
        alphas = 1.0 - b
        self.ac = np.cumprod(alphas)
        self.ac_prev = np.append(1.0, self.ac[:-1])
        self.posterior_variance = b * (1.0 - self.ac_prev) / (1.0 - self.ac)
        self.posterior_log_variance_clipped = np.log(
            np.append(self.posterior_variance[1], self.posterior_variance[1:])
        )
        self.coef1 = b * np.sqrt(self.ac_prev) / (1.0 - self.ac)
        self.coef2 = (1.0 - self.ac_prev) * np.sqrt(alphas) / (1.0 - self.ac)
        self.fixed_large = np.append(self.posterior_variance[1], b[1:])

    def pred_x0(self, i, x, out, prediction, clip):
        a = self.ac[i]
        if prediction == "epsilon":
            x0 = np.sqrt(1.0 / a) * x - np.sqrt(1.0 / a - 1) * out
        elif prediction == "v_prediction":
            x0 = np.sqrt(a) * x - np.sqrt(1.0 - a) * out
        else:
            raise ValueError(prediction)
        return np.clip(x0, -clip, clip) if clip is not None else x0

    def p_sample(self, i, x, out, noise, prediction, variance, clip):
        x0 = self.pred_x0(i, x, out, prediction, clip)
        mean = self.coef1[i] * x0 + self.coef2[i] * x
        if variance == "fixed_small":
            log_var = self.posterior_log_variance_clipped[i]
        else:
            log_var = np.log(self.fixed_large[i])
        mask = 0.0 if i == 0 else 1.0
        return x0, mean + mask * np.exp(0.5 * log_var) * noise

    def ddim_sample(self, i, x, out, noise, prediction, eta, clip, final_alpha=1.0):
        """`final_alpha`: ᾱ after the last step (improved-diffusion: 1; diffusers with
        set_alpha_to_one=False: ᾱ of training timestep 0)."""
        x0 = self.pred_x0(i, x, out, prediction, clip)
        a, a_prev = self.ac[i], (self.ac_prev[i] if i > 0 else final_alpha)
        eps = (np.sqrt(1.0 / a) * x - x0) / np.sqrt(1.0 / a - 1)
        sigma = eta * np.sqrt((1 - a_prev) / (1 - a)) * np.sqrt(1 - a / a_prev)
        mean = x0 * np.sqrt(a_prev) + np.sqrt(1 - a_prev - sigma**2) * eps
        mask = 0.0 if i == 0 else 1.0
        return x0, mean + mask * sigma * noise


# ---------------------------------------------------------------------------------------------
# diffusers, schedules rebuilt in float64
# ---------------------------------------------------------------------------------------------


def diffusers_f64(scheduler, betas64):
    scheduler.betas = torch.from_numpy(np.asarray(betas64, dtype=np.float64))
    scheduler.alphas = 1.0 - scheduler.betas
    scheduler.alphas_cumprod = torch.cumprod(scheduler.alphas, dim=0)
    return scheduler


def diffusers_timesteps(spacing, n, offset=0):
    s = DDPMScheduler(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=offset)
    s.set_timesteps(n)
    return sorted(int(t) for t in s.timesteps)


def encode_timesteps(ts):
    """[first, base, bits]: an ascending list as its first value and its gaps.

    Every gap of a diffusers spacing is `base` or `base + 1`; bit k (most significant bit
    first) of the base64 string `bits` is gap k minus `base`. Trailing zero bytes are left out,
    so missing bits read as 0 (an evenly strided list has bits "").
    """
    gaps = np.diff(ts).tolist()
    base = min(gaps) if gaps else 0
    flags = [g - base for g in gaps]
    assert set(flags) <= {0, 1}, ("gaps of more than two sizes", ts)
    packed = bytearray((len(flags) + 7) // 8)
    for k, f in enumerate(flags):
        packed[k // 8] |= f << (7 - k % 8)
    encoded = [int(ts[0]), int(base), base64.b64encode(bytes(packed).rstrip(b"\0")).decode()]
    assert decode_timesteps(encoded, len(ts)) == list(ts)
    return encoded


def decode_timesteps(encoded, n):
    first, base, bits = encoded
    packed = base64.b64decode(bits)
    ts = [first]
    for k in range(n - 1):
        bit = (packed[k // 8] >> (7 - k % 8)) & 1 if k // 8 < len(packed) else 0
        ts.append(ts[-1] + base + bit)
    return ts


def diffusers_spacing_sweep():
    """diffusers' timesteps for N = 1..=T of each spacing, encoded by `encode_timesteps`.

    `trailing` returns N + 1 values for some N, the extra one −1 (numpy's arange overshoots);
    those N are listed under `trailing_extra_minus_one` and the −1 is left out of the list.
    `leading+1` (SD's steps_offset = 1) runs past T − 1 at N = T; such N are listed under
    `leading+1_past_end` instead.
    """
    sweep = {"num_train_timesteps": T, "trailing_extra_minus_one": [], "leading+1_past_end": []}
    for name, spacing, offset in [("leading", "leading", 0), ("leading+1", "leading", 1),
                                  ("trailing", "trailing", 0), ("linspace", "linspace", 0)]:
        encoded = []
        for n in range(1, T + 1):
            ts = diffusers_timesteps(spacing, n, offset)
            assert len(set(ts)) == len(ts), (name, n, "repeats")
            if spacing == "trailing" and len(ts) == n + 1:
                assert ts[0] == -1, (name, n)
                ts = ts[1:]
                sweep["trailing_extra_minus_one"].append(n)
            if ts[-1] >= T:
                sweep["leading+1_past_end"].append(n)
                encoded.append(None)
                continue
            assert len(ts) == n and ts[0] >= 0, (name, n, ts[:3])
            encoded.append(encode_timesteps(ts))
        sweep[name] = encoded
    return sweep


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default="crates/diffmac-sampler/tests/fixtures/sampler_reference.json",
        help="where to write the JSON fixture",
    )
    args = parser.parse_args()

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__.split("+")[0],
        "diffusers": diffusers.__version__,
    }
    for name, pinned in PINNED.items():
        if versions[name] != pinned:
            print(f"warning: {name} {versions[name]} is not the pinned {pinned}", file=sys.stderr)

    # ---- beta schedules ----------------------------------------------------------------------
    sl = scaled_linear_betas_f64(T)
    schedules = {
        "scaled_linear": sl,
        "linear": id_named_betas("linear", T),
        "cosine": id_named_betas("cosine", T),
    }
    # diffusers' float64 formula must agree with our numpy one.
    torch_sl = (torch.linspace(SD_BETA_START**0.5, SD_BETA_END**0.5, T, dtype=torch.float64) ** 2).numpy()
    assert np.abs(torch_sl - sl).max() < 1e-15
    native = {
        "scaled_linear": DDPMScheduler(
            beta_schedule="scaled_linear", beta_start=SD_BETA_START, beta_end=SD_BETA_END
        ),
        "linear": DDPMScheduler(beta_schedule="linear"),
        "cosine": DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
    }
    schedule_out = {}
    for name, betas in schedules.items():
        schedule_out[name] = {
            "betas": flat(betas),
            "alphas_cumprod": flat(np.cumprod(1.0 - betas)),
            "diffusers_f32_alphas_cumprod": flat(native[name].alphas_cumprod.numpy()),
        }

    # ---- respacing ---------------------------------------------------------------------------
    respacing = []
    for spec, n in [
        ("50", 1000), ("10,15,20", 300), ("ddim50", 1000), ("ddim25", 1000), ("250", 1000),
        ("1000", 1000), ("7", 1000), ("1", 1000), ("10,0,5", 1000), ("4", 10), ("3,5", 11),
    ]:
        respacing.append({"spec": spec, "num_timesteps": n, "timesteps": id_space_timesteps(n, spec),
                          "source": "improved_diffusion"})
    # diffusers' spacings, every step count (the single lists above are improved-diffusion's).
    spacing_sweep = diffusers_spacing_sweep()

    # ---- the 50-step spaced process of the paper (scaled_linear) ----------------------------
    kept50 = set(id_space_timesteps(T, "50"))
    g50 = SpacedGaussian(sl, kept50)
    spaced = {
        "spec": "50",
        "timesteps": g50.timestep_map,
        "betas": flat(g50.betas),
        "alphas_cumprod": flat(g50.ac),
        "alphas_cumprod_prev": flat(g50.ac_prev),
        "posterior_variance": flat(g50.posterior_variance),
        "posterior_log_variance_clipped": flat(g50.posterior_log_variance_clipped),
        "posterior_mean_coef1": flat(g50.coef1),
        "posterior_mean_coef2": flat(g50.coef2),
        # improved-diffusion's fixed-large variances: β', with index 0 set to the posterior
        # variance of index 1 (index 0 never adds noise, but the value is still defined).
        "fixed_large_variance": flat(g50.fixed_large),
    }

    # ---- single sampler steps ---------------------------------------------------------------
    rng = np.random.default_rng(20240611)
    steps = []

    def ddpm_case(name, spec, index, prediction, variance, clip, seed):
        kept = id_space_timesteps(T, spec)
        g = SpacedGaussian(sl, set(kept))
        t = kept[index]
        x = rng.standard_normal(SHAPE)
        out = rng.standard_normal(SHAPE)
        sched = diffusers_f64(
            DDPMScheduler(
                beta_schedule="scaled_linear", beta_start=SD_BETA_START, beta_end=SD_BETA_END,
                prediction_type=prediction, variance_type=variance,
                clip_sample=clip is not None, clip_sample_range=clip or 1.0,
            ),
            sl,
        )
        sched.set_timesteps(timesteps=sorted(kept, reverse=True))
        res = sched.step(torch.from_numpy(out), t, torch.from_numpy(x),
                         generator=torch.Generator().manual_seed(seed))
        noise = randn(SHAPE, seed).numpy()  # the noise diffusers drew inside step()
        x0, prev = g.p_sample(index, x, out, noise, prediction, variance, clip)
        d_x0, d_prev = res.pred_original_sample.numpy(), res.prev_sample.numpy()
        assert np.abs(d_prev - prev).max() < 1e-10, (name, np.abs(d_prev - prev).max())
        steps.append({
            "name": name, "method": "ddpm", "variance": variance, "spacing": spec,
            "prediction": prediction, "clip": clip, "index": index, "timestep": t,
            "shape": list(SHAPE), "x_t": flat(x), "model_output": flat(out), "noise": flat(noise),
            "expected": {
                "improved_diffusion": {"pred_x0": flat(x0), "prev_sample": flat(prev)},
                "diffusers": {"pred_x0": flat(d_x0), "prev_sample": flat(d_prev)},
            },
        })

    def ddim_case(name, spec, index, prediction, eta, clip, seed, with_diffusers,
                  set_alpha_to_one=True):
        if spec.startswith("leading"):
            # "leadingN" or "leadingN+OFFSET", as the crate's `Spacing` writes them
            n, _, offset = spec[len("leading"):].partition("+")
            offset = int(offset or 0)
            kept = diffusers_timesteps("leading", int(n), offset)
        else:
            kept = id_space_timesteps(T, spec)
        g = SpacedGaussian(sl, set(kept))
        t = kept[index]
        x = rng.standard_normal(SHAPE)
        out = rng.standard_normal(SHAPE)
        noise = randn(SHAPE, seed).numpy()
        final_alpha = 1.0 if set_alpha_to_one else float(np.cumprod(1.0 - sl)[0])
        x0, prev = g.ddim_sample(index, x, out, noise, prediction, eta, clip, final_alpha)
        # improved-diffusion has no set_alpha_to_one; the formula above with ᾱ₀ stands in.
        source = "improved_diffusion" if set_alpha_to_one else "numpy_formula"
        expected = {source: {"pred_x0": flat(x0), "prev_sample": flat(prev)}}
        if with_diffusers:
            sched = diffusers_f64(
                DDIMScheduler(
                    beta_schedule="scaled_linear", beta_start=SD_BETA_START, beta_end=SD_BETA_END,
                    prediction_type=prediction, clip_sample=clip is not None,
                    clip_sample_range=clip or 1.0, set_alpha_to_one=set_alpha_to_one,
                    steps_offset=offset, timestep_spacing="leading",
                ),
                sl,
            )
            # diffusers_f64 rebuilds alphas_cumprod; final_alpha_cumprod must follow it.
            sched.final_alpha_cumprod = (torch.tensor(1.0, dtype=torch.float64) if set_alpha_to_one
                                         else sched.alphas_cumprod[0])
            sched.set_timesteps(len(kept))
            assert sorted(int(v) for v in sched.timesteps) == kept
            res = sched.step(torch.from_numpy(out), t, torch.from_numpy(x), eta=eta,
                             use_clipped_model_output=clip is not None,
                             variance_noise=torch.from_numpy(noise))
            d_prev = res.prev_sample.numpy()
            assert np.abs(d_prev - prev).max() < 1e-10, (name, np.abs(d_prev - prev).max())
            expected["diffusers"] = {"pred_x0": flat(res.pred_original_sample.numpy()),
                                     "prev_sample": flat(d_prev)}
        steps.append({
            "set_alpha_to_one": set_alpha_to_one,
            "name": name, "method": "ddim", "eta": eta, "spacing": spec, "prediction": prediction,
            "clip": clip, "index": index, "timestep": t, "shape": list(SHAPE), "x_t": flat(x),
            "model_output": flat(out), "noise": flat(noise), "expected": expected,
        })

    ddpm_case("ddpm_small_eps_mid", "50", 30, "epsilon", "fixed_small", None, 1)
    ddpm_case("ddpm_large_v", "50", 10, "v_prediction", "fixed_large", None, 2)
    ddpm_case("ddpm_small_eps_last", "50", 0, "epsilon", "fixed_small", None, 3)
    ddpm_case("ddpm_small_eps_clip", "50", 45, "epsilon", "fixed_small", 1.0, 4)
    ddpm_case("ddpm_large_eps_first", "50", 49, "epsilon", "fixed_large", None, 5)
    ddim_case("ddim_eta0_eps", "leading50", 25, "epsilon", 0.0, None, 6, True)
    ddim_case("ddim_eta05_v", "leading50", 40, "v_prediction", 0.5, None, 7, True)
    ddim_case("ddim_eta1_eps_clip", "leading50", 12, "epsilon", 1.0, 1.0, 8, True)
    ddim_case("ddim_eta1_eps_spaced", "50", 20, "epsilon", 1.0, None, 9, False)
    ddim_case("ddim_eta0_eps_last", "50", 0, "epsilon", 0.0, None, 10, False)
    # SD 2.1's own DDIM: leading 50 with steps_offset 1 and set_alpha_to_one = False. The last
    # step goes to ᾱ₀ instead of 1; the others are unaffected.
    ddim_case("ddim_sd21_eta0_last", "leading50+1", 0, "epsilon", 0.0, None, 12, True,
              set_alpha_to_one=False)
    ddim_case("ddim_sd21_eta05_mid", "leading50+1", 10, "epsilon", 0.5, None, 13, True,
              set_alpha_to_one=False)

    # ---- diffusers unmodified (float32) for one DDPM step --------------------------------
    kept = id_space_timesteps(T, "50")
    x32 = rng.standard_normal(SHAPE).astype(np.float32)
    out32 = rng.standard_normal(SHAPE).astype(np.float32)
    s32 = DDPMScheduler(beta_schedule="scaled_linear", beta_start=SD_BETA_START,
                        beta_end=SD_BETA_END, clip_sample=False)
    s32.set_timesteps(timesteps=sorted(kept, reverse=True))
    index32 = 35
    res32 = s32.step(torch.from_numpy(out32), kept[index32], torch.from_numpy(x32),
                     generator=torch.Generator().manual_seed(11))
    noise32 = torch.randn(SHAPE, generator=torch.Generator().manual_seed(11), dtype=torch.float32)
    f32_case = {
        "name": "ddpm_small_eps_diffusers_f32", "method": "ddpm", "variance": "fixed_small",
        "spacing": "50", "prediction": "epsilon", "clip": None, "index": index32,
        "timestep": kept[index32], "shape": list(SHAPE), "x_t": flat(x32),
        "model_output": flat(out32), "noise": flat(noise32.numpy()),
        "expected": {"diffusers_f32": {"pred_x0": flat(res32.pred_original_sample.numpy()),
                                       "prev_sample": flat(res32.prev_sample.numpy())}},
    }

    # ---- forward process with per-sample t -----------------------------------------------
    fshape = (3, 2, 2, 2)
    ts = [0, 499, 999]
    x0 = rng.standard_normal(fshape)
    noise = rng.standard_normal(fshape)
    ac = np.cumprod(1.0 - sl)
    a = ac[ts].reshape(-1, 1, 1, 1)
    q = np.sqrt(a) * x0 + np.sqrt(1.0 - a) * noise
    v = np.sqrt(a) * noise - np.sqrt(1.0 - a) * x0
    fd = diffusers_f64(DDPMScheduler(beta_schedule="scaled_linear", beta_start=SD_BETA_START,
                                     beta_end=SD_BETA_END), sl)
    tt = torch.tensor(ts)
    d_q = fd.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), tt).numpy()
    d_v = fd.get_velocity(torch.from_numpy(x0), torch.from_numpy(noise), tt).numpy()
    forward = {
        "shape": list(fshape), "timesteps": ts, "x0": flat(x0), "noise": flat(noise),
        "expected": {
            "improved_diffusion": {"x_t": flat(q), "velocity": flat(v)},
            "diffusers": {"x_t": flat(d_q), "velocity": flat(d_v)},
        },
    }

    fixture = {
        "generator": "scripts/reference/sampler_reference.py",
        "versions": versions,
        "num_train_timesteps": T,
        "scaled_linear": {"beta_start": SD_BETA_START, "beta_end": SD_BETA_END},
        "schedules": schedule_out,
        "respacing": respacing,
        "diffusers_spacings": spacing_sweep,
        "spaced_50": spaced,
        "steps": steps,
        "steps_f32": [f32_case],
        "forward": forward,
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
