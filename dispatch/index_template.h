// The project index page rendered from an admin's template file
// (--index-template, TRAC_ENV_INDEX_TEMPLATE).
#pragma once
