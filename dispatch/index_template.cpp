// Placeholder: replaced by the index template renderer.
#include "dispatch/index_template.h"
