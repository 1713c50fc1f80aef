/* libnuma, for SwiftPM: Debian's libnuma-dev (pkg-config "numa"). */
#include <numa.h>
