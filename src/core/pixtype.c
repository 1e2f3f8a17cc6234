/* Pixel type mapping between eefetch and GDAL (see pixtype.h). */
#include "core/pixtype.h"

GDALDataType pixtype_to_gdal(enum spec_dtype t)
{
    switch (t) {
    case SPEC_DTYPE_UINT8:
    case SPEC_DTYPE_INT8: return GDT_Byte;
    case SPEC_DTYPE_UINT16: return GDT_UInt16;
    case SPEC_DTYPE_INT16: return GDT_Int16;
    case SPEC_DTYPE_UINT32: return GDT_UInt32;
    case SPEC_DTYPE_INT32: return GDT_Int32;
    case SPEC_DTYPE_FLOAT32: return GDT_Float32;
    case SPEC_DTYPE_FLOAT64: return GDT_Float64;
    default: return GDT_Unknown;
    }
}

enum spec_dtype pixtype_from_gdal(GDALDataType t)
{
    switch (t) {
    case GDT_Byte: return SPEC_DTYPE_UINT8;
#if GDAL_VERSION_NUM >= 3070000
    case GDT_Int8: return SPEC_DTYPE_INT8;
#endif
    case GDT_UInt16: return SPEC_DTYPE_UINT16;
    case GDT_Int16: return SPEC_DTYPE_INT16;
    case GDT_UInt32: return SPEC_DTYPE_UINT32;
    case GDT_Int32: return SPEC_DTYPE_INT32;
    case GDT_Float32: return SPEC_DTYPE_FLOAT32;
    case GDT_Float64: return SPEC_DTYPE_FLOAT64;
    default: return SPEC_DTYPE_AUTO;
    }
}
