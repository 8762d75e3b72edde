/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Placeholder: the status issue writes this part.
 */


#include "ngx_http_bedrock_module.h"
