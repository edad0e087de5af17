"""neurocc.ir: the floor of neurocc.

``Graph`` (float, NIR semantics), its primitives, loading and saving NIR
files, and verification. Later: ``Program`` (the lowered integer form) and
``TargetSpec`` (a chip described as data). Nothing here knows a pass, a chip
or a simulator.
"""

from .errors import (ArtifactError, CapacityError, GraphError, ModelFileError, NeuroccError,
                     QuantizationError, ShapeError, SimulationError, TargetSpecError,
                     UnsupportedNodeError)
from .graph import Graph, NodeShapes, Report, check, verify
from .nirio import from_nir, load, save, to_nir
from .program import (ARTIFACT_FORMAT, InputPort, NeuronGroup, OutputPort, Program, SynapseBlock,
                      file_hash, load_program, save_program)
from .nodes import (IF, LI, LIF, NODE_TYPES, Affine, AvgPool2d, Conv1d, Conv2d, CubaLI, CubaLIF,
                    Delay, Flatten, I, Identity, Input, Linear, Node, Output, Scale, SumPool2d,
                    Threshold)

__all__ = [
    "ArtifactError", "CapacityError", "GraphError", "ModelFileError", "NeuroccError",
    "QuantizationError", "ShapeError", "SimulationError", "TargetSpecError",
    "UnsupportedNodeError", "Graph", "NodeShapes", "Report", "check", "verify", "load", "save",
    "from_nir", "to_nir", "NODE_TYPES", "Node", "Input", "Output", "Identity", "Affine", "Linear",
    "Scale", "Threshold", "Delay", "Flatten", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "LIF",
    "CubaLIF", "IF", "LI", "CubaLI", "I", "ARTIFACT_FORMAT", "InputPort", "NeuronGroup",
    "OutputPort", "Program", "SynapseBlock", "file_hash", "load_program", "save_program",
]
