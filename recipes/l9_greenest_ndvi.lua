-- The greenest pixel of summer 2023 from Landsat 9: each scene is masked
-- (fill, cloud, dilated cloud, cirrus, shadow and saturated pixels: QA_PIXEL
-- and QA_RADSAT), scaled to reflectance, and given an NDVI band; each pixel
-- takes every band of the scene where its NDVI is highest (a quality mosaic).
-- The output holds NDVI and the red, green and blue reflectance of that scene,
-- at 30 m on Landsat's own lattice in UTM 10N, over about 4 km x 4 km.
--   eefetch run recipes/l9_greenest_ndvi.lua --emulator --set out=/tmp/greenest.tif
local region = geo.bbox(-121.90, 37.30, -121.85, 37.34)

local scenes = ee.ImageCollection("LANDSAT/LC09/C02/T1_L2")
  :filterDate(params.start or "2023-06-01", params.stop or "2023-09-01")
  :filterBounds(region)
  :map(function(img)
    img = lib.scale.landsat_l2(lib.mask.landsat_l2(img))
    return img:addBands(lib.index.ndvi(img, "landsat89"))
  end)
local greenest = lib.composite.quality(scenes, "NDVI"):select({ "NDVI", "SR_B4", "SR_B3", "SR_B2" })

local r = download{
  image = greenest,
  region = region,
  -- Landsat's 30 m lattice: pixel edges at odd multiples of 15 m.
  crs = "EPSG:32610", crs_transform = { 30, 0, 15, 0, -30, 15 },
  dtype = "float32",
  output = params.out or "l9_greenest.tif",
}
print(string.format("%s: %d x %d pixels, bands NDVI, SR_B4, SR_B3, SR_B2", params.out or "l9_greenest.tif",
                    r.width, r.height))
