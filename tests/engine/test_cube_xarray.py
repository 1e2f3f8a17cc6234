"""Datacubes as xarray sees them (Debian's python3-xarray, -zarr, -netcdf4).

tests/engine/test_cube.c, run with EEFETCH_CUBE_KEEP=<dir>, leaves its Zarr
and netCDF cubes there with cubes.json (each cube's grid, type, nodata,
chunks, and the stored pieces' windows and bands). Each cube is opened with
xarray.open_zarr / xarray.open_dataset and checked against values computed
here: x/y pixel centres and their CF attributes, time decoded to the right
datetime64 values, image ids, the CRS found through grid_mapping (and kept
with each variable as a coordinate), _FillValue masked to NaN exactly where
no piece was, scale_factor/add_offset applied, chunks (1, tile_h, tile_w),
global attributes (non-ASCII too), and every pixel against
val(t, v, col, row), the formula test_cube.c stored.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import xarray as xr
from osgeo import osr

BUILD = os.environ["EEFETCH_BUILD"]
fails = 0

NT, NV = 3, 2
NAMES = ["NDVI", "B4"]
SCALES, OFFSETS = [1.0, 0.5], [0.0, 10.0]
IDS = ["COPERNICUS/S2/20200101T000000_T33TUG", "COPERNICUS/S2/20200201_X", ""]
TIMES = np.array(["2020-01-01T00:00:00.000", "2020-02-01T00:00:00.123", "2020-03-01T00:00:00.000"],
                 dtype="datetime64[ms]").astype("datetime64[ns]")


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def val(t, v, cols, rows):
    return (t * 31 + v * 17 + cols[None, :] * 3 + rows[:, None] * 5) % 251


def expected(cube, pieces, w, h):
    """Per variable: (NT, h, w) float64 of the stored values, NaN where no
    piece covers a pixel."""
    out = np.full((NV, NT, h, w), np.nan)
    cols, rows = np.arange(w), np.arange(h)
    for col, row, pw, ph, band0, nb in pieces:
        for b in range(band0, band0 + nb):
            t, v = divmod(b, NV)
            out[v, t, row:row + ph, col:col + pw] = val(t, v, cols, rows)[row:row + ph, col:col + pw]
    if cube["dtype"] == "int8":
        out = np.minimum(out, 127)   # the store's conversion clamps
    return out


def check_cube(path, cube, pieces):
    name = cube["name"]
    if cube["format"] == "zarr":
        ds = xr.open_zarr(path)   # consolidated metadata, dask arrays
    else:
        ds = xr.open_dataset(path)
    w, h = ds.sizes["x"], ds.sizes["y"]
    check((ds.sizes["time"], h, w) == (NT, 45, 70), f"{name}: sizes {dict(ds.sizes)}")

    # coordinates: pixel centres in CRS units
    xs = cube["x0"] + (np.arange(w) + 0.5) * cube["sx"]
    ys = cube["y0"] + (np.arange(h) + 0.5) * cube["sy"]
    check(np.allclose(ds.x.values, xs, rtol=0, atol=1e-9), f"{name}: x centres {ds.x.values[:3]}")
    check(np.allclose(ds.y.values, ys, rtol=0, atol=1e-9), f"{name}: y centres {ds.y.values[:3]}")
    geo = cube["crs"] == "EPSG:4326"
    want_x = ("longitude", "degrees_east") if geo else ("projection_x_coordinate", "m")
    want_y = ("latitude", "degrees_north") if geo else ("projection_y_coordinate", "m")
    check((ds.x.attrs.get("standard_name"), ds.x.attrs.get("units")) == want_x, f"{name}: x attrs {ds.x.attrs}")
    check((ds.y.attrs.get("standard_name"), ds.y.attrs.get("units")) == want_y, f"{name}: y attrs {ds.y.attrs}")

    # time, decoded by xarray from the CF units
    check(ds.time.dtype == np.dtype("datetime64[ns]"), f"{name}: time dtype {ds.time.dtype}")
    check(np.array_equal(ds.time.values, TIMES), f"{name}: times {ds.time.values}")
    check("image_id" in ds.coords and [str(s) for s in ds.image_id.values] == IDS,
          f"{name}: image ids {ds.image_id.values if 'image_id' in ds else None}")

    # global attributes
    check(ds.attrs.get("Conventions") == "CF-1.8", f"{name}: Conventions {ds.attrs.get('Conventions')}")
    check(ds.attrs.get("EEFETCH_PLAN_SHA256") == "plan-a", f"{name}: plan tag")
    check(ds.attrs.get("NOTE") == "Zürich 5°", f"{name}: NOTE {ds.attrs.get('NOTE')!r}")

    want = expected(cube, pieces, w, h)
    for v, var in enumerate(NAMES):
        da = ds[var]
        check(da.dims == ("time", "y", "x"), f"{name}/{var}: dims {da.dims}")
        # CRS through CF's grid_mapping; the mapping variable is a coordinate
        gm = da.attrs.get("grid_mapping") or da.encoding.get("grid_mapping")
        check(gm in da.coords, f"{name}/{var}: grid mapping {gm!r} not a coordinate of the variable")
        if gm in ds.variables:
            srs = osr.SpatialReference()
            check(srs.ImportFromWkt(ds[gm].attrs.get("crs_wkt", "")) == 0, f"{name}: crs_wkt unreadable")
            srs.AutoIdentifyEPSG()
            code = srs.GetAuthorityCode(None)
            check(f"EPSG:{code}" == cube["crs"], f"{name}: CRS EPSG:{code}, want {cube['crs']}")
            check(ds[gm].attrs.get("grid_mapping_name") == ("latitude_longitude" if geo else "transverse_mercator"),
                  f"{name}: grid_mapping_name {ds[gm].attrs.get('grid_mapping_name')}")
        # chunks: one image, one download tile (cut to the grid)
        want_chunks = (1, min(cube["chunk_h"], h), min(cube["chunk_w"], w))
        chunks = da.encoding.get("chunks") or da.encoding.get("chunksizes")
        check(chunks is not None and tuple(chunks) == want_chunks, f"{name}/{var}: chunks {chunks}")
        if cube["format"] == "zarr":
            check(da.data.chunksize == want_chunks, f"{name}/{var}: dask chunks {da.data.chunksize}")
        # values: _FillValue -> NaN, scale/offset applied
        got = da.values
        exp = want[v]
        if cube["has_nodata"]:
            check(da.encoding.get("_FillValue") == cube["nodata"], f"{name}/{var}: _FillValue {da.encoding}")
            check(np.issubdtype(got.dtype, np.floating), f"{name}/{var}: dtype {got.dtype}")
            check(np.array_equal(np.isnan(got), np.isnan(exp)),
                  f"{name}/{var}: {int(np.isnan(got).sum())} NaN, want {int(np.isnan(exp).sum())}")
        else:
            check("_FillValue" not in da.encoding or da.encoding["_FillValue"] is None,
                  f"{name}/{var}: unexpected _FillValue {da.encoding.get('_FillValue')}")
            exp = np.where(np.isnan(exp), 0, exp)   # no nodata: what no piece covers is 0
        if cube["scaled"]:
            check(da.encoding.get("scale_factor") == SCALES[v] and da.encoding.get("add_offset") == OFFSETS[v],
                  f"{name}/{var}: scale/offset {da.encoding}")
            exp = exp * SCALES[v] + OFFSETS[v]
        ok = np.isnan(exp) | (np.abs(got - np.nan_to_num(exp)) <= 1e-4 * np.maximum(1, np.abs(np.nan_to_num(exp))))
        if not ok.all():
            t, y, x = np.argwhere(~ok)[0]
            fail(f"{name}/{var}: {int((~ok).sum())} pixels differ, first t{t} ({x},{y}): {got[t, y, x]} "
                 f"want {exp[t, y, x]}")
    ds.close()


def main():
    binary = os.path.join(BUILD, "tests", "engine_test_cube")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([binary], env=dict(os.environ, EEFETCH_CUBE_KEEP=tmp), capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            fail(f"{binary} failed:\n{r.stdout}{r.stderr}")
            return
        with open(os.path.join(tmp, "cubes.json")) as f:
            m = json.load(f)
        check(len(m["cubes"]) == 4, f"cubes: {[c['name'] for c in m['cubes']]}")
        for cube in m["cubes"]:
            try:
                check_cube(os.path.join(tmp, cube["name"]), cube, m["pieces"])
            except Exception as e:   # one cube that does not open must not hide the others
                fail(f"{cube['name']}: {type(e).__name__}: {e}")


main()
print("fails:", fails)
sys.exit(1 if fails else 0)
