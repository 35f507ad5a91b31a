"""Processing provider ``mosaic`` and its algorithms (toolbox, modeler, batch mode, qgis_process)."""
