"""Defect inspection: PatchCore on Facet's backbone.

Good photos' patch features form a memory bank (`patches`, `coreset`, `bank`); a new photo's
patches are searched against it with FAISS, and the distances give its score and heatmap
(`scoring`, `heatmap`); the threshold comes from the good photos themselves (`calibration`).
Banks are stored under FACET_HOME/inspection/ (`storage`), built from a product's, a category's
or a folder's photos (`references`), by the `inspector`.
"""
