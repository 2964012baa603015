"""Readers for real soil-moisture and remote-sensing products (stage 01, ``source: files``).

Each module reads one family of products and returns ``xarray`` objects in the canonical data model
(DESIGN.md section 3): gridded fields on a study grid (``lat`` descending, cell centres, EPSG:4326,
daily ``time`` at 00:00) or station series with dims ``(station, time)``.

- :mod:`.smap`: SMAP L3 SPL3SMP / SPL3SMP_E daily HDF5, L2 half orbits, L4 analysis (HDF5);
- :mod:`.ease2`: the EASE-Grid 2.0 global grids (EPSG:6933) and regridding to lat/lon grids;
- :mod:`.ismn`: ISMN station files (header+values and CEOP formats) through the ``ismn`` package;
- :mod:`.tuw`: TU Wien reshuffled time-series cell files (pynetcf layout) read at locations;
- :mod:`.gridded`: generic NetCDF / GeoTIFF / Zarr images with a name and unit mapping;
- :mod:`.modis`: MODIS HDF4 (MOD11A1, MOD13A2, MOD09A1) and AppEEARS GeoTIFFs;
- :mod:`.dem`: a DEM GeoTIFF to ``dem`` and ``slope`` on the fine grid;
- :mod:`.ingest`: ``write_inputs(study, out_dir)``, the files front end of stage 01.

Importing this package does no work; every module loads its heavy dependencies inside functions.
"""
