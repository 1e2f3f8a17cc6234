-- Landsat 9 surface reflectance, scaled to reflectance with a mapped
-- function, first image of January 2023; getInfo() shows what it is before
-- anything is downloaded.
--   eefetch run recipes/landsat_scaled.lua --emulator
local coll = ee.ImageCollection("LANDSAT/LC09/C02/T1_L2")
  :filterDate("2023-01-01", "2023-02-01")
  :map(function(img)
    return img:select({ "SR_B4", "SR_B5" }):multiply(0.0000275):add(-0.2)
  end)

print("images in January:", coll:size():getInfo())
local first = coll:first()
local info = first:getInfo()
for _, b in ipairs(info.bands) do
  print("band", b.id, b.data_type.precision, b.crs)
end

local ndvi = first:normalizedDifference({ "SR_B5", "SR_B4" }):rename("ndvi")
print("expression sent for every tile:")
print(ee.serialize(ndvi))
