/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#ifndef _NGX_BEDROCK_VIEW_H_INCLUDED_
#define _NGX_BEDROCK_VIEW_H_INCLUDED_


#endif /* _NGX_BEDROCK_VIEW_H_INCLUDED_ */
