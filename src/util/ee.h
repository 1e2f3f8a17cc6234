/*
 * Facts about Earth Engine's service that the client and the emulator share,
 * defined once (docs/engine.md, docs/emulator.md).
 */
#ifndef EEFETCH_UTIL_EE_H
#define EEFETCH_UTIL_EE_H

/* Base URLs, without the API version. */
#define EE_ENDPOINT "https://earthengine.googleapis.com"
#define EE_ENDPOINT_HIGH_VOLUME "https://earthengine-highvolume.googleapis.com"

/* EE's default quota: concurrent requests per project before 429. */
#define EE_CONCURRENT_QUOTA 40

/* The client's default bound on one request (EE computes for up to a few
 * minutes before it answers a large tile). */
#define EE_REQUEST_TIMEOUT_MS 300000L

#endif
