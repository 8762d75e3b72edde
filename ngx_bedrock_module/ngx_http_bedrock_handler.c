/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#include "ngx_http_bedrock_module.h"
