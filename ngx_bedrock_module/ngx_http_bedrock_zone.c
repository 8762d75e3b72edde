/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Placeholder: the zone issue writes the shared-memory limiter here.
 */


#include "ngx_http_bedrock_module.h"
