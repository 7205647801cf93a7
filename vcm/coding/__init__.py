"""Coding modes (objects, frame, plain, blur) and the pixel work behind them; see `vcm.coding.modes`."""
from vcm.coding.modes import (MODES, CodedPicture, CodedStream, assemble, code_background, code_crops,
                              code_picture_mode, reconstruct)

__all__ = ["MODES", "CodedPicture", "CodedStream", "assemble", "code_background", "code_crops",
           "code_picture_mode", "reconstruct"]
