#!/usr/bin/env python3
"""Reference fixtures for the parity tests of the `diffmac-ldm` crate.

Pinned versions (the fixtures record the versions that actually wrote them):
    python 3.11, torch==2.15.0, diffusers==0.42.1, transformers==5.24.0, safetensors==0.8.0

It builds tiny random-weight Stable Diffusion 2.x components with the reference libraries,
saves each one exactly as a user's download is laid out (a component folder with the
library's own `config.json` and weights file), and saves inputs and outputs next to it:

* `unet_linear/`: `UNet2DConditionModel` with linear projections and upcast attention
  (the SD 2.1-768 settings), three levels, cross-attention and plain blocks, 2 and 4 heads,
  two transformer layers in the first level's blocks.
* `unet_conv/`: the same shape with 1x1-conv projections and no upcasting.
* `vae/`: `AutoencoderKL` with three levels (SD's block structure at tiny widths).
* `text_encoder/`: `CLIPTextModel` (exact GELU, causal attention, 3 layers, 4 heads), saved
  with the `text_model.` key prefix that SD 2.1's `text_encoder/model.safetensors` has.

Every parameter gets random values (norm weights around 1, biases around 0) so that no
part of the model can be skipped by accident and still pass.

Outputs (per component `<name>_io.safetensors`, all float32 unless stated):
    unet:  sample [2,4,16,16], timestep [2], encoder_hidden_states [2,7,24] -> out
    vae:   image [1,3,32,32] in [-1,1], noise [1,4,8,8] -> moments (quant_conv output),
           mean, std, latent_sample (mean + std * noise), decoded (decoder of the mean latent),
           decoded_sample (decoder of latent_sample)
    text:  input_ids [2,77] (int64) -> last_hidden_state, penultimate_hidden_state
           (final_layer_norm applied to the second-to-last layer's output)

It also writes `sd_single_file.safetensors`: the same tiny UNet (linear variant), VAE and
text encoder in the key layout of the original single-file SD 2.1 checkpoint
(`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.model.*` with OpenCLIP
names, fused q/k/v, 1x1-conv VAE attention, one extra final text layer that SD 2.x skips,
`text_projection`, `logit_scale` and the DDPM schedule buffers). The layout is produced by
inverting diffusers' converter and then checked with diffusers' own converters
(`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_open_clip_checkpoint`),
which must map it back onto exactly the diffusers weights.

It also checks the parameter counts of the full-size SD 2.1-base configs stored in
crates/diffmac-ldm/tests/fixtures/sd21_base/ (built on the meta device, nothing allocated).

Run (from the repository root, in a throwaway virtual environment):
    python3 -m venv /tmp/ldm-ref
    /tmp/ldm-ref/bin/pip install torch==2.15.0 diffusers==0.42.1 transformers==5.24.0 safetensors==0.8.0
    /tmp/ldm-ref/bin/python scripts/reference/ldm_reference.py
"""

import json
import platform
import shutil
from pathlib import Path

import diffusers
import safetensors
import torch
import transformers
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel

PINNED = {"torch": "2.15.0", "diffusers": "0.42.1", "transformers": "5.24.0", "safetensors": "0.8.0"}
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "diffmac-ldm" / "tests" / "fixtures"

SD21_BASE_UNET_PARAMS = 865_910_724
SD21_BASE_VAE_PARAMS = 83_653_863


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }


def randomise(module, gen):
    """Give every parameter random values: norm weights near 1, the rest near 0."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            is_norm = "norm" in name and leaf == "weight"
            if is_norm:
                p.copy_(1.0 + 0.1 * noise)
            elif leaf == "bias":
                p.copy_(0.05 * noise)
            elif "embedding" in name:
                p.copy_(0.5 * noise)
            else:
                fan_in = max(1, p[0].numel())
                p.copy_(noise / fan_in**0.5)


def save_io(name, tensors):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    meta = {k: str(v) for k, v in versions().items()}
    save_file(tensors, str(OUT / f"{name}_io.safetensors"), metadata=meta)


def fresh_dir(name):
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    return d


def unet_fixture(name, use_linear_projection, upcast_attention, seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(16, 32, 32),
        layers_per_block=2,
        transformer_layers_per_block=(2, 1, 1),
        # SD 2.x's config uses attention_head_dim for the number of heads (a diffusers quirk).
        attention_head_dim=(2, 4, 4),
        norm_num_groups=4,
        cross_attention_dim=24,
        use_linear_projection=use_linear_projection,
        upcast_attention=upcast_attention,
        flip_sin_to_cos=True,
        freq_shift=0,
    )
    model = UNet2DConditionModel(**cfg).eval()
    randomise(model, gen)
    d = fresh_dir(name)
    model.save_pretrained(d, safe_serialization=True)
    # Reload through the library so the fixture is what a user's download gives.
    model = UNet2DConditionModel.from_pretrained(d).eval()
    sample = torch.randn((2, 4, 16, 16), generator=gen)
    timestep = torch.tensor([10.0, 981.0])
    ehs = torch.randn((2, 7, 24), generator=gen)
    with torch.no_grad():
        out = model(sample, timestep, encoder_hidden_states=ehs).sample
    save_io(name, {"sample": sample, "timestep": timestep, "encoder_hidden_states": ehs, "out": out})
    return sum(p.numel() for p in model.parameters())


def vae_fixture(seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
        scaling_factor=0.18215,
    )
    model = AutoencoderKL(**cfg).eval()
    randomise(model, gen)
    d = fresh_dir("vae")
    model.save_pretrained(d, safe_serialization=True)
    model = AutoencoderKL.from_pretrained(d).eval()
    image = torch.rand((1, 3, 32, 32), generator=gen) * 2 - 1
    noise = torch.randn((1, 4, 8, 8), generator=gen)
    with torch.no_grad():
        h = model.encoder(image)
        moments = model.quant_conv(h)
        dist = model.encode(image).latent_dist
        assert torch.equal(dist.parameters, moments)
        latent_sample = dist.mean + dist.std * noise
        decoded = model.decode(dist.mean).sample
        decoded_sample = model.decode(latent_sample).sample
    save_io(
        "vae",
        {
            "image": image,
            "noise": noise,
            "moments": moments,
            "mean": dist.mean,
            "std": dist.std,
            "latent_sample": latent_sample,
            "decoded": decoded,
            "decoded_sample": decoded_sample,
        },
    )
    return sum(p.numel() for p in model.parameters())


def text_fixture(seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = CLIPTextConfig(
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        bos_token_id=998,
        eos_token_id=999,
        pad_token_id=0,
    )
    model = CLIPTextModel(cfg).eval()
    randomise(model, gen)
    d = fresh_dir("text_encoder")
    model.save_pretrained(d, safe_serialization=True)
    # SD 2.1's text_encoder/model.safetensors (written by transformers 4.x) prefixes every key
    # with `text_model.`; rewrite the file in that layout and check the library still loads it.
    weights = load_file(str(d / "model.safetensors"))
    if not all(k.startswith("text_model.") for k in weights):
        weights = {f"text_model.{k}": v for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if not k.endswith("position_ids")}
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    reloaded = CLIPTextModel.from_pretrained(d).eval()
    # Row 0: the empty prompt as SD 2.x's tokenizer writes it (start, end, pad "!" = 0).
    ids = torch.zeros((2, 77), dtype=torch.int64)
    ids[0, 0], ids[0, 1] = 998, 999
    ids[1] = torch.randint(1, 998, (77,), generator=gen)
    ids[1, 0], ids[1, 40] = 998, 999
    with torch.no_grad():
        ref = model(ids, output_hidden_states=True)
        out = reloaded(ids, output_hidden_states=True)
        assert torch.equal(ref.last_hidden_state, out.last_hidden_state), "reload changed outputs"
        penultimate = reloaded.final_layer_norm(out.hidden_states[-2])
    save_io(
        "text_encoder",
        {
            "input_ids": ids,
            "last_hidden_state": out.last_hidden_state,
            "penultimate_hidden_state": penultimate,
        },
    )
    return sum(p.numel() for p in model.parameters())


RESNET_TO_LDM = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
]


def unet_to_ldm(sd, cfg):
    """diffusers UNet keys -> original LDM keys (the inverse of convert_ldm_unet_checkpoint)."""
    lpb = cfg["layers_per_block"]
    out = {}
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    for k, v in sd.items():
        parts = k.split(".")
        head = ".".join(parts[:-1])
        if head in fixed:
            new = fixed[head] + "." + parts[-1]
        elif parts[0] == "down_blocks":
            b, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                for a, c in RESNET_TO_LDM:
                    rest = rest.replace(a, c)
                new = f"input_blocks.{1 + b * (lpb + 1) + j}.0.{rest}"
            elif kind == "attentions":
                new = f"input_blocks.{1 + b * (lpb + 1) + j}.1.{rest}"
            else:  # downsamplers.0.conv.*
                new = f"input_blocks.{1 + b * (lpb + 1) + lpb}.0.op.{parts[-1]}"
        elif parts[0] == "mid_block":
            kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                for a, c in RESNET_TO_LDM:
                    rest = rest.replace(a, c)
                new = f"middle_block.{2 * j}.{rest}"
            else:
                new = f"middle_block.1.{rest}"
        elif parts[0] == "up_blocks":
            b, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                for a, c in RESNET_TO_LDM:
                    rest = rest.replace(a, c)
                new = f"output_blocks.{b * (lpb + 1) + j}.0.{rest}"
            elif kind == "attentions":
                new = f"output_blocks.{b * (lpb + 1) + j}.1.{rest}"
            else:  # upsamplers.0.conv.*
                has_attn = cfg["up_block_types"][b].startswith("CrossAttn")
                new = f"output_blocks.{b * (lpb + 1) + lpb}.{2 if has_attn else 1}.conv.{parts[-1]}"
        else:
            raise KeyError(k)
        out["model.diffusion_model." + new] = v
    return out


def vae_to_ldm(sd, cfg):
    """diffusers VAE keys -> original LDM keys (the inverse of convert_ldm_vae_checkpoint)."""
    n = len(cfg["block_out_channels"])
    out = {}
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for k, v in sd.items():
        new = k.replace("conv_norm_out", "norm_out")
        parts = new.split(".")
        if len(parts) > 2 and parts[1] == "down_blocks":
            i, kind = int(parts[2]), parts[3]
            if kind == "resnets":
                new = f"{parts[0]}.down.{i}.block.{parts[4]}." + ".".join(parts[5:])
            else:
                new = f"{parts[0]}.down.{i}.downsample.conv.{parts[-1]}"
        elif len(parts) > 2 and parts[1] == "up_blocks":
            i, kind = n - 1 - int(parts[2]), parts[3]
            if kind == "resnets":
                new = f"{parts[0]}.up.{i}.block.{parts[4]}." + ".".join(parts[5:])
            else:
                new = f"{parts[0]}.up.{i}.upsample.conv.{parts[-1]}"
        elif len(parts) > 2 and parts[1] == "mid_block":
            if parts[2] == "resnets":
                new = f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:])
            else:
                rest = ".".join(parts[4:-1])
                new = f"{parts[0]}.mid.attn_1.{attn[rest]}.{parts[-1]}"
                if parts[-1] == "weight" and rest != "group_norm":
                    v = v[:, :, None, None]
        new = new.replace("conv_shortcut", "nin_shortcut")
        out["first_stage_model." + new] = v
    return out


def text_to_openclip(sd, gen):
    """transformers CLIPTextModel keys -> OpenCLIP keys as in SD 2.x's single file, plus the
    final layer that SD 2.x skips, text_projection and logit_scale."""
    pre = "cond_stage_model.model."
    sd = {k.removeprefix("text_model."): v for k, v in sd.items()}
    out = {
        pre + "token_embedding.weight": sd["embeddings.token_embedding.weight"],
        pre + "positional_embedding": sd["embeddings.position_embedding.weight"],
        pre + "ln_final.weight": sd["final_layer_norm.weight"],
        pre + "ln_final.bias": sd["final_layer_norm.bias"],
    }
    layers = sorted({int(k.split(".")[2]) for k in sd if k.startswith("encoder.layers.")})
    d = sd["final_layer_norm.weight"].shape[0]
    for i in layers + [len(layers)]:
        src = f"encoder.layers.{min(i, layers[-1])}."
        dst = f"{pre}transformer.resblocks.{i}."

        def g(name):
            t = sd[src + name]
            # The extra (skipped) layer gets its own random values.
            return t if i < len(layers) else torch.randn(t.shape, generator=gen)

        out[dst + "attn.in_proj_weight"] = torch.cat([g(f"self_attn.{x}_proj.weight") for x in "qkv"])
        out[dst + "attn.in_proj_bias"] = torch.cat([g(f"self_attn.{x}_proj.bias") for x in "qkv"])
        for a, b in [
            ("self_attn.out_proj", "attn.out_proj"),
            ("layer_norm1", "ln_1"),
            ("layer_norm2", "ln_2"),
            ("mlp.fc1", "mlp.c_fc"),
            ("mlp.fc2", "mlp.c_proj"),
        ]:
            out[dst + b + ".weight"] = g(a + ".weight")
            out[dst + b + ".bias"] = g(a + ".bias")
    out[pre + "text_projection"] = torch.randn((d, d), generator=gen)
    out[pre + "logit_scale"] = torch.tensor(4.6052)
    return out, len(layers)


def single_file_fixture(seed):
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    gen = torch.Generator().manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(OUT / "unet_linear")
    vae = AutoencoderKL.from_pretrained(OUT / "vae")
    text_sd = load_file(str(OUT / "text_encoder" / "model.safetensors"))
    text = CLIPTextModel.from_pretrained(OUT / "text_encoder")
    unet_sd = {k: v.contiguous() for k, v in unet.state_dict().items()}
    vae_sd = {k: v.contiguous() for k, v in vae.state_dict().items()}

    ckpt = {}
    ckpt.update(unet_to_ldm(unet_sd, unet.config))
    ckpt.update(vae_to_ldm(vae_sd, vae.config))
    clip, n_layers = text_to_openclip(text_sd, gen)
    ckpt.update(clip)
    # DDPM schedule buffers that the original checkpoint carries next to the weights.
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    ckpt["betas"] = betas.float()
    ckpt["alphas_cumprod"] = torch.cumprod(1 - betas, 0).float()

    # diffusers' converters must map the layout back onto the diffusers weights exactly.
    back = convert_ldm_unet_checkpoint(ckpt, unet.config)
    assert back.keys() == unet_sd.keys(), set(back) ^ set(unet_sd)
    assert all(torch.equal(back[k], unet_sd[k]) for k in back)
    back = convert_ldm_vae_checkpoint(ckpt, vae.config)
    assert back.keys() == vae_sd.keys(), set(back) ^ set(vae_sd)
    assert all(torch.equal(back[k], vae_sd[k]) for k in back)
    back = convert_open_clip_checkpoint(text, ckpt)
    extra = {k for k in back if f"encoder.layers.{n_layers}." in k} | {"text_projection.weight"}
    want = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in text_sd.items()}
    got = {k: v for k, v in back.items() if k not in extra}
    assert got.keys() == want.keys(), set(got) ^ set(want)
    assert all(torch.equal(got[k], want[k]) for k in got)

    ckpt = {k: v.contiguous() for k, v in ckpt.items()}
    save_file(ckpt, str(OUT / "sd_single_file.safetensors"), metadata={"format": "pt"})
    return len(ckpt)


def full_size_counts():
    base = OUT / "sd21_base"
    with torch.device("meta"):
        unet_cfg = UNet2DConditionModel.load_config(base / "unet")
        unet = UNet2DConditionModel.from_config(unet_cfg)
        vae_cfg = AutoencoderKL.load_config(base / "vae")
        vae = AutoencoderKL.from_config(vae_cfg)
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(base / "text_encoder"))
    counts = {
        "unet": sum(p.numel() for p in unet.parameters()),
        "vae": sum(p.numel() for p in vae.parameters()),
        "text_encoder": sum(p.numel() for p in text.parameters()),
    }
    assert counts["unet"] == SD21_BASE_UNET_PARAMS, counts
    assert counts["vae"] == SD21_BASE_VAE_PARAMS, counts
    return counts


def main():
    got = versions()
    for k, v in PINNED.items():
        if not got[k].startswith(v):
            print(f"warning: {k} {got[k]} is not the pinned {v}")
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    counts = {
        "unet_linear": unet_fixture("unet_linear", True, True, seed=1),
        "unet_conv": unet_fixture("unet_conv", False, False, seed=2),
        "vae": vae_fixture(seed=3),
        "text_encoder": text_fixture(seed=4),
    }
    counts["single_file_tensors"] = single_file_fixture(seed=5)
    full = full_size_counts()
    summary = {"versions": got, "tiny_parameter_counts": counts, "sd21_base_parameter_counts": full}
    (OUT / "versions.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
