"""vcm: video coding for machines.

Predicts each detected object's Just Recognizable Difference (the coarsest VVC QP at which a detector still
recognises it), codes objects at that QP and the background far coarser, and measures the saving against
plain VVC with detection mAP and BD-rate. Heavy libraries (torch, ultralytics, timm) are imported only by
the modules that need them, so `import vcm` stays cheap.
"""
__version__ = "0.1.0"
