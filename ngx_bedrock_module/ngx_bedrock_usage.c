/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Placeholder: this part is being written.
 */


#include "ngx_bedrock_usage.h"
