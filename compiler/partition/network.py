"""The whole-network limits of a target's ``[network]`` table (a chip's fixed neuron pools).

External input channels, hidden neurons (those no Output node reads) and
output neurons (those one reads), checked on the Structure before any slicing.
"""

from __future__ import annotations

from neurocc.ir.target import TargetSpec

from .structure import Structure


def network_problems(structure: Structure, target: TargetSpec) -> list[tuple[str, str, str]]:
    """The target's [network] limits the whole network breaks: input channels, hidden and
    output neurons (the chip's fixed pools), each with how much and the smallest change."""
    limits = target.network
    if limits is None:
        return []
    listed = lambda sizes: ", ".join(f"'{n}' {k}" for n, k in sizes.items())  # noqa: E731
    where = f"target '{target.name}' has"
    out = []
    inputs = {p: n for p, n in structure.ports.items() if p not in structure.constants}
    hidden = {g: n for g, n in structure.groups.items() if g not in structure.outputs}
    outputs = {g: structure.groups[g] for g in structure.outputs}
    total = sum(inputs.values())
    if limits.max_input_channels and total > limits.max_input_channels:
        lim = limits.max_input_channels
        out.append((", ".join(inputs), "max_input_channels",
                    f"the network takes {total} external input channels ({listed(inputs)}); "
                    f"{where} {lim} input channels (max_input_channels): {total - lim} too "
                    f"many. Smallest changes: encode the input in at most {lim} channels "
                    f"(pool or downsample it, {total} -> {lim}), or a target with {total} "
                    "input channels"))
    total = sum(hidden.values())
    if limits.max_hidden_neurons and total > limits.max_hidden_neurons:
        lim = limits.max_hidden_neurons
        big = max(hidden, key=hidden.get)
        out.append((big, "max_hidden_neurons",
                    f"the network has {total} hidden neurons (neurons no Output node reads: "
                    f"{listed(hidden)}); {where} {lim} hidden neurons (max_hidden_neurons): "
                    f"{total - lim} too many. Smallest changes: {total - lim} fewer hidden "
                    f"neurons (the largest layer, '{big}', has {hidden[big]}), or a target "
                    "with more neurons"))
    total = sum(outputs.values())
    if limits.max_output_neurons and total > limits.max_output_neurons:
        lim = limits.max_output_neurons
        out.append((", ".join(outputs), "max_output_neurons",
                    f"the network's Output nodes read {total} neurons ({listed(outputs)}); "
                    f"{where} {lim} output neurons (max_output_neurons): {total - lim} too "
                    f"many. Smallest changes: read at most {lim} neurons (fewer output "
                    f"classes or channels), or a target with {total} output neurons"))
    return out
