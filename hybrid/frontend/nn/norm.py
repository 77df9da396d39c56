"""Instance, group and (single-device) synchronized batch normalization layers (Gluon names)."""
from __future__ import annotations

from .. import npx
from ..block import HybridBlock
from .basic import BatchNorm
from ..parameter import Parameter


class _ChannelNorm(HybridBlock):
    """gamma/beta of one value per channel, shape fixed by the first input when in_channels=0."""

    def __init__(self, axis: int, epsilon: float, center: bool, scale: bool, beta_initializer,
                 gamma_initializer, in_channels: int):
        super().__init__()
        self.axis, self.epsilon = axis, epsilon
        self.gamma = Parameter("gamma", (in_channels,), init=gamma_initializer, grad_req="write" if scale else "null")
        self.beta = Parameter("beta", (in_channels,), init=beta_initializer, grad_req="write" if center else "null")

    def _params(self, x):
        for p in (self.gamma, self.beta):
            p._finish_deferred_init((x.shape[self.axis],))
        return self.gamma.data(), self.beta.data()


class InstanceNorm(_ChannelNorm):
    """Normalize each sample and channel over its spatial positions (Ulyanov et al.)."""

    def __init__(self, axis: int = 1, epsilon: float = 1e-5, center: bool = True, scale: bool = False,
                 beta_initializer="zeros", gamma_initializer="ones", in_channels: int = 0):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, in_channels)

    def forward(self, x):
        gamma, beta = self._params(x)
        return npx.instance_norm(x, gamma, beta, eps=self.epsilon, axis=self.axis)


class GroupNorm(_ChannelNorm):
    """Normalize each sample over groups of channels (Wu & He); NC* layout."""

    def __init__(self, num_groups: int = 1, epsilon: float = 1e-5, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", in_channels: int = 0):
        super().__init__(1, epsilon, center, scale, beta_initializer, gamma_initializer, in_channels)
        self.num_groups = num_groups

    def forward(self, x):
        gamma, beta = self._params(x)
        return npx.group_norm(x, gamma, beta, num_groups=self.num_groups, eps=self.epsilon)


class SyncBatchNorm(BatchNorm):
    """MXNet's cross-device BatchNorm. hybrid runs a model on one device per process, where the
    batch statistics are already the whole batch's: with num_devices None or 1 this is BatchNorm.
    Several devices in one process (MXNet's multi-GPU data parallelism) are not offered."""

    def __init__(self, in_channels: int = 0, num_devices=None, momentum: float = 0.9, epsilon: float = 1e-5,
                 center: bool = True, scale: bool = True, axis: int = 1):
        if num_devices not in (None, 1):
            raise NotImplementedError(f"SyncBatchNorm(num_devices={num_devices}): hybrid runs a model on one device "
                                      "per process, so there is nothing to synchronize across; use BatchNorm (or "
                                      "num_devices=1), and for data parallelism one process per device "
                                      "(hybrid.distributed)")
        super().__init__(axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
                         in_channels=in_channels)
