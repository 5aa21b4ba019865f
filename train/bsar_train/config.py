"""Model configuration: the fields of the exported JSON (spec/model.md section 3)."""
from dataclasses import dataclass, asdict
import math


@dataclass
class ModelConfig:
    channels: int = 3            # C: 1 (grayscale) or 3 (RGB)
    patch: int = 32              # P: patch side, even
    latent_layers: int = 4       # L
    latent_channels: int = 8     # Cz
    width: int = 64              # W
    res_blocks: int = 2          # R
    latent_bins: int = 1024      # N: equal-mass bins of the standard logistic
    # ln(0.1), written with 4 decimals so the JSON value is exactly what training used.
    min_log_scale_latent: float = -2.3026
    min_log_scale_pixel: float = -6.0
    # The pixel likelihood: "none", p(x | z1) with one logistic per sample (model JSON version 1),
    # or "local-linear", p(x | z1, context) whose means also see the sample's decoded neighbours
    # (spec/model.md section 5; model JSON version 2).
    pixel_context: str = "none"

    def validate(self):
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.patch < 2 or self.patch % 2:
            raise ValueError(f"patch must be even and >= 2, got {self.patch}")
        for k in ("latent_layers", "latent_channels", "width"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1")
        if self.res_blocks < 0:
            raise ValueError("res_blocks must be >= 0")
        if self.latent_bins < 2:
            raise ValueError("latent_bins must be >= 2")
        if self.pixel_context not in PIXEL_CONTEXTS:
            raise ValueError(f"pixel_context must be one of {PIXEL_CONTEXTS}, got {self.pixel_context!r}")
        return self

    @property
    def grid(self):
        """Side of the squeezed grid on which every net runs."""
        return self.patch // 2

    @property
    def dims(self):
        """Pixel dimensions per patch, the denominator of bits/dim."""
        return self.channels * self.patch * self.patch

    def net_names(self):
        return [f"q{i}" for i in range(self.latent_layers)] + [f"p{i}" for i in range(self.latent_layers)]

    def net_io(self, name):
        """(Cin, Cout) of a net, per the table in spec section 2."""
        c4, cz = 4 * self.channels, self.latent_channels
        if name == "q0":
            return c4, cz
        if name == "p0":
            # local-linear: LOCAL_GROUPS / 2 logistics' worth of outputs per sample (spec 5.1).
            return cz, c4 * (LOCAL_GROUPS // 2 if self.pixel_context == "local-linear" else 1)
        return cz, cz

    @property
    def json_version(self):
        """Version 1 has no pixel context; a reader that only knows it must refuse the rest."""
        return 1 if self.pixel_context == "none" else 2

    def to_json_fields(self):
        fields = asdict(self)
        if self.pixel_context == "none":
            del fields["pixel_context"]  # version-1 files stay byte for byte as they were
        return fields


def config_from_json(obj):
    fields = ModelConfig.__dataclass_fields__
    return ModelConfig(**{k: obj[k] for k in fields if k in obj or k not in OPTIONAL}).validate()


PIXEL_CONTEXTS = ("none", "local-linear")
OPTIONAL = ("pixel_context",)
# Output groups of a local-linear p0 per sample: mean offset, log-scale, and six coefficients.
LOCAL_GROUPS = 8


LN2 = math.log(2.0)
