// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

const sysMemfdCreate = 319
