/*
 * eefetch's pixel types (enum spec_dtype) and GDAL's, mapped in one place
 * for the decoder (pieces EE sends) and the mosaic (files eefetch writes).
 */
#ifndef EEFETCH_CORE_PIXTYPE_H
#define EEFETCH_CORE_PIXTYPE_H

#include <gdal.h>

#include "core/spec.h"

/* int8 maps to GDT_Byte: GDAL before 3.7 has no Int8, and eefetch writes
 * signed bytes as Byte with PIXELTYPE=SIGNEDBYTE. GDT_Unknown for AUTO. */
GDALDataType pixtype_to_gdal(enum spec_dtype t);

/* SPEC_DTYPE_AUTO for GDAL types eefetch has no type for (Int64, complex). */
enum spec_dtype pixtype_from_gdal(GDALDataType t);

#endif
