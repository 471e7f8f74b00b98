"""JPEG decoding on the model's device (nvjpeg on CUDA, through `torchvision.io.decode_jpeg`) and the model's eval
transform run there on tensors, for jobs that ask for it (`ClipModelSpec.decode_on_device`).

A decode worker then only reads a JPEG's bytes (`encoded_jpeg`); the main process decodes a batch's JPEGs in one
call on the device and applies the same Resize / CenterCrop / Normalize as the model's PIL transform
(`TensorTransform`, read from that transform; any other step is refused with the list of steps found). It applies
only where every frame scorer of the job reads CLIP image embeddings: `basic`, `ocr` and `caption` need decoded
pictures on the host, so with them in the job every sample is decoded by the workers as usual. Non-JPEG images,
videos and clip keyframes are always decoded by the workers. A JPEG the device cannot decode is that sample's
failure (`undecodable: ...`), found by decoding the batch's JPEGs one by one when the batch call fails.
"""
from dataclasses import dataclass

import torch

from curation.errors import GristmillError
from curation.scorers.base import Sample
from curation.scorers.media import is_jpeg_image

def encoded_jpeg(sample: Sample) -> torch.Tensor | None:
    """The stored bytes of a JPEG image sample as a uint8 tensor (what `decode_jpeg` takes), else None."""
    return torch.frombuffer(bytearray(sample.data), dtype=torch.uint8) if is_jpeg_image(sample) else None


@dataclass(frozen=True)
class TensorTransform:
    """The model's eval transform on (3, H, W) uint8 tensors: its Resize, CenterCrop and Normalize steps."""

    steps: tuple

    @classmethod
    def of(cls, preprocess) -> "TensorTransform":
        """The tensor form of an open_clip eval transform (a torchvision Compose); GristmillError if it has steps
        other than Resize, CenterCrop, Normalize and the PIL-only conversions."""
        from torchvision import transforms as T

        steps, unknown = [], []
        for step in getattr(preprocess, "transforms", [preprocess]):
            name = type(step).__name__
            if isinstance(step, (T.Resize, T.CenterCrop, T.Normalize)):
                steps.append(step)
            elif name not in ("MaybeConvertMode", "MaybeToTensor", "ToTensor"):
                unknown.append(name)
        if unknown or not any(isinstance(s, T.Normalize) for s in steps):
            raise GristmillError(f"decoding on the device supports Resize, CenterCrop and Normalize transforms; this "
                                 f"model's transform has {', '.join(unknown) or 'no Normalize'}: score without it")
        return cls(tuple(steps))

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """A (3, H, W) uint8 tensor to the model's (3, S, S) float input, on the tensor's device."""
        from torchvision import transforms as T

        x = image.float()
        for step in self.steps:
            if isinstance(step, T.Normalize):
                x = step(x.clamp_(0, 255) / 255.0)  # PIL rounds and clamps to 0..255 before ToTensor
            else:
                x = step(x)
        return x


def decode_on_device(jpegs: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | Exception]:
    """Each JPEG decoded to a (3, H, W) uint8 RGB tensor on `device`, or the exception that decoding it raised."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return list(decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:  # one bad JPEG fails the whole call: find it
        decoded: list[torch.Tensor | Exception] = []
        for data in jpegs:
            try:
                decoded.append(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as exc:
                decoded.append(exc)
        return decoded
