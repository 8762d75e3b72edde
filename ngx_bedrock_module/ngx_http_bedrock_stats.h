/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#ifndef _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_


#endif /* _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_ */
